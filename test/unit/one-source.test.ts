// The lists kept once: the functions (shared/handlers/table.ts) and the configuration variables
// (shared/config.ts). Everything that repeats them (serverless.yml, functions/, the README) is checked here.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { CONFIG_VARIABLES, KEY_VARIABLES, loadConfig, type Env } from '../../shared/config';
import { FUNCTIONS, functionsOn, type Target } from '../../shared/handlers/table';

const ROOT = join(__dirname, '..', '..');
const TARGETS: Target[] = ['local', 'aws'];
type Definition = { handler: string; environment?: unknown; role?: unknown };
const readYaml = (file: string) => load(readFileSync(join(ROOT, file), 'utf8')) as Record<string, unknown>;
const serverless = readYaml('serverless.yml') as {
  provider: { environment: Record<string, unknown> };
  functions: Record<string, Definition | string>;
};

/**
 * serverless.yml's functions as a target deploys them: an entry `${self:custom.target.<name>, null}` is
 * deploy/<target>.yml's `<name>`, and serverless drops it where that file has none.
 */
function functionsDeployedOn(target: Target): Record<string, Definition> {
  const settings = readYaml(`deploy/${target}.yml`);
  return Object.fromEntries(
    Object.entries(serverless.functions).flatMap(([name, definition]) => {
      if (typeof definition !== 'string') return [[name, definition]];
      expect(definition).toBe(`\${self:custom.target.${name}, null}`);
      const fromTarget = settings[name] as Definition | undefined;
      return fromTarget === undefined ? [] : [[name, fromTarget]];
    }),
  );
}

describe('the function table', () => {
  it.each(TARGETS)("is exactly serverless.yml's functions on the %s target, each with its entry file", (target) => {
    const deployed = Object.fromEntries(Object.entries(functionsDeployedOn(target)).map(([name, { handler }]) => [name, handler]));
    const table = Object.fromEntries(functionsOn(target).map((name) => [name, `${FUNCTIONS[name].entry.replace(/\.ts$/, '')}.handler`]));
    expect(deployed).toEqual(table);
  });

  it('leaves the demo login off the aws target, and only it', () => {
    expect(Object.keys(FUNCTIONS).filter((name) => !functionsOn('aws').includes(name as keyof typeof FUNCTIONS))).toEqual(['demoLogin']);
    expect(functionsOn('local')).toEqual(Object.keys(FUNCTIONS));
  });

  // Each function's module builds its container with the keys its row allows, and so refuses any other.
  it.each(Object.entries(FUNCTIONS))("%s's module asks for its row's keys", (_name, { entry, keys }) => {
    const source = readFileSync(join(ROOT, entry), 'utf8');
    const asked = /containerServices\('(\w+)'\)/.exec(source)?.[1];
    // me builds no container at all: it holds nothing, Redis included.
    expect(asked ?? 'none').toBe(keys);
  });

  it.each(TARGETS)("is deployed on the %s target with each function's key variables and IAM role, both taken from its row", (target) => {
    const functions = functionsDeployedOn(target);
    for (const name of functionsOn(target)) {
      const { environment, role } = functions[name] ?? {};
      expect({ name, environment, role }).toEqual({
        name,
        environment: `\${file(./deploy/keys.js):environment.${name}}`,
        role: `\${file(./deploy/keys.js):role.${name}}`,
      });
    }
  });

  it('has a file in functions/ for each entry, and no other', () => {
    const files = readdirSync(join(ROOT, 'functions')).map((file) => `functions/${file}`);
    expect(files.sort()).toEqual(
      Object.values(FUNCTIONS)
        .map(({ entry }) => entry)
        .sort(),
    );
  });
});

describe('the configuration variables', () => {
  /** The names loadConfig reads from `env`. */
  function readBy(env: Record<string, string>): Set<string> {
    const read = new Set<string>();
    const recording = new Proxy(env, {
      get(target, name) {
        if (typeof name === 'string') read.add(name);
        return target[name as string];
      },
    }) as Env;
    loadConfig(recording);
    return read;
  }

  it('are exactly what loadConfig reads, with the keyring in the environment or in SSM', () => {
    const secret = 'one-source-secret-0123456789abcdefghijklmn';
    const read = new Set([
      ...readBy({ REDIS_URL: 'redis://127.0.0.1:6379', JWT_KEYS: `k1:${secret}` }),
      ...readBy({ REDIS_URL: 'redis://127.0.0.1:6379', JWT_KEYS_SSM_PARAMETER: '/jwt/keyring' }),
    ]);
    expect([...read].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });

  it("are serverless.yml's environment, but IS_OFFLINE, which serverless offline sets, and the key material, which each function gets as its keys allow", () => {
    const keyMaterial: readonly string[] = KEY_VARIABLES;
    expect(Object.keys(serverless.provider.environment).sort()).toEqual(
      CONFIG_VARIABLES.filter((name) => name !== 'IS_OFFLINE' && !keyMaterial.includes(name)).sort(),
    );
  });

  it("are the README's table, with those only `npm start` reads", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1));
    const rows = [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((match) => match[1]);
    const startScriptOnly = ['SIGN_API_KEY', 'PORT', 'LAMBDA_PORT'];
    expect(rows.sort()).toEqual([...CONFIG_VARIABLES.filter((name) => name !== 'IS_OFFLINE'), ...startScriptOnly].sort());
  });
});
