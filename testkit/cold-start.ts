// A Lambda container inside a jest worker: every handler built on its own services (its own configuration,
// its own Redis connection) from exactly the given environment, warmed up as a cold start does. Nothing is
// read from process.env, so the developer's shell cannot leak in.
import type { Env } from '../shared/config';
import { createHandlers, type Handlers } from '../shared/handlers/table';
import { createServices, type ServiceOverrides, type Services } from '../shared/services';

export interface Container extends Handlers {
  services: Services;
  /** Closes the container's connection. */
  close(): Promise<void>;
}

/** Builds the handlers as a new container would with `env`. Throws what the cold start throws. */
export function coldStart(env: Env, overrides?: ServiceOverrides): Container {
  const services = createServices(env, overrides);
  services.warmUp();
  return { ...createHandlers(services), services, close: () => services.close() };
}
