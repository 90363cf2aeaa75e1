// What one Lambda container holds, bundled on its own by the soak so that each load of the bundle is a
// separate container: its own config, its own services, its own Redis connection.
export { handler as authorizer } from '../functions/authorizer';
export { handler as sign } from '../functions/sign';
export { handler as logout } from '../functions/logout';
export { handler as logoutAll } from '../functions/logout-all';
export { getServices, resetServices } from '../shared/services';
