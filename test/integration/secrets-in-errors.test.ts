// No error, cause or log line carries a Redis password or a signing secret, whatever characters it holds:
// checked everywhere a crash or a log could show them (String, stack, JSON of each error of the cause chain,
// util.inspect), for config errors, keyring errors and failed connects, single server and cluster client.
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { loadRedisConfig } from '../../shared/config';
import { ConfigError, StoreUnavailableError } from '../../shared/errors';
import { fetchKeyring } from '../../shared/auth/keyring';
import { setLogLevel } from '../../shared/telemetry/log';
import { idempotent, RedisConnection } from '../../shared/redis/connection';
import { configError } from '../../testkit/config-error';
import { captureLogs } from '../../testkit/logs';
import { startRedisServer, type RedisServer } from '../../testkit/redis-server';

const tag = () => randomBytes(4).toString('hex');

/**
 * Each is runs of 5+ letters and digits (made distinctive by a random tag) around the characters that
 * break URLs, keyrings or quoting. A leak of any run is caught, not only of the whole.
 */
const HOSTILE_PASSWORDS = [
  `Hash${tag()}#Tail${tag()}`,
  `Slash${tag()}/Tail${tag()}`,
  `Query${tag()}?Tail${tag()}`,
  `Percent${tag()}%Tail${tag()}`,
  `AtSign${tag()}@Tail${tag()}`,
  `Colon${tag()}:Tail${tag()}`,
  `Space${tag()} Tail${tag()}`,
  `Quote${tag()}"Single${tag()}'Tail${tag()}`,
  `Unicode${tag()}ünï€😀Tail${tag()}`,
  `Mixed${tag()}#/?%@: "'é,Tail${tag()}`,
  // Digits before the first # / ?: the URL parser takes them for a port, and the rest for a fragment or path.
  `${10000 + Math.floor(Math.random() * 50000)}#Tail${tag()}`,
  `${10000 + Math.floor(Math.random() * 50000)}/Tail${tag()}`,
];

/** Every piece of `secret` that must never be shown: itself, its encodings, and each run of 5+ letters and digits. */
function pieces(secret: string): string[] {
  return [secret, encodeURIComponent(secret), ...secret.split(/[^A-Za-z0-9]+/).filter((run) => run.length >= 5)];
}

/** All a crash or a careless log could print of an error. */
function printed(error: unknown): string {
  const shown = [inspect(error, { depth: 10 })];
  for (
    let current: unknown = error, hops = 0;
    current !== undefined && current !== null && hops < 10;
    current = (current as { cause?: unknown }).cause, hops += 1
  ) {
    shown.push(text(current), String((current as { stack?: unknown }).stack), json(current));
  }
  return shown.join('\n');
}

/** What `${value}` or string concatenation prints of any thrown value: an Error, a string, an object with its own toString. */
function text(value: unknown): string {
  return String(value);
}

function json(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch (error) {
    // A circular structure: util.inspect above shows all of it anyway.
    return String(error);
  }
}

/** The longest start of `text` under 32 bytes of UTF-8: a secret too short to be accepted. */
function tooShort(text: string): string {
  let short = text;
  while (Buffer.byteLength(short, 'utf8') >= 32) short = short.slice(0, -1);
  return short;
}

function expectNothingOf(secret: string, text: string): void {
  for (const piece of pieces(secret)) expect({ piece, found: text.includes(piece) }).toEqual({ piece, found: false });
}

async function caught(work: () => unknown): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

describe('Secrets never reach an error or a log line', () => {
  let server: RedisServer;
  let output: string[];

  beforeAll(async () => {
    server = await startRedisServer();
  });

  beforeEach(() => {
    setLogLevel('info');
    output = captureLogs();
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    setLogLevel('silent');
    await server?.stop();
  });

  describe('REDIS_URL', () => {
    it.each(HOSTILE_PASSWORDS)('with the password %p unencoded: refused without a trace of it, or read as exactly that password', async (password) => {
      const admin = await server.admin();
      await admin.sendCommand(['ACL', 'SETUSER', 'app', 'reset', 'on', `>${password}`, '~*', '&*', '+@all']);
      const url = `redis://app:${password}@127.0.0.1:${server.port}`;
      let redisUrl: string;
      try {
        redisUrl = loadRedisConfig({ REDIS_URL: url }).url;
      } catch (error) {
        // The reported crash: the URL parser's error, kept as the cause, held the whole URL in `input`.
        expect(error).toBeInstanceOf(ConfigError);
        expectNothingOf(password, printed(error));
        // Still says what kind of failure it was.
        if ((error as Error).message.startsWith('REDIS_URL is not a valid URL'))
          expect((error as Error).cause).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_URL' });
        return;
      }
      // Accepted: then it must mean this very password (the parser percent-encoded what needed it).
      const redis = new RedisConnection({ url: redisUrl, timeoutMs: 3000 });
      try {
        await expect(redis.run(idempotent('PING', { key: 'k' }, (client) => client.ping()))).resolves.toBe('PONG');
      } finally {
        await redis.close();
      }
      expectNothingOf(password, output.join('\n'));
    });

    it.each(HOSTILE_PASSWORDS)('percent-encoded, the password %p connects; a wrong one fails without a trace of either', async (password) => {
      const admin = await server.admin();
      await admin.sendCommand(['ACL', 'SETUSER', 'app', 'reset', 'on', `>${password}`, '~*', '&*', '+@all']);
      const right = loadRedisConfig({ REDIS_URL: `redis://app:${encodeURIComponent(password)}@127.0.0.1:${server.port}` });
      const redis = new RedisConnection({ url: right.url, timeoutMs: 3000 });
      try {
        await expect(redis.run(idempotent('PING', { key: 'k' }, (client) => client.ping()))).resolves.toBe('PONG');
      } finally {
        await redis.close();
      }

      const wrongPassword = `Wrong${tag()}${password}`;
      for (const cluster of [false, true]) {
        const wrong = loadRedisConfig({
          REDIS_URL: `redis://app:${encodeURIComponent(wrongPassword)}@127.0.0.1:${server.port}`,
          REDIS_CLUSTER: String(cluster),
        });
        const failing = new RedisConnection({ url: wrong.url, timeoutMs: 3000, cluster: wrong.cluster });
        try {
          const error = await caught(() => failing.run(idempotent('PING', { key: 'k' }, (client) => client.ping())));
          expect(error).toBeInstanceOf(StoreUnavailableError);
          // Failed for the wrong password, and says so as far as the client can tell.
          expect((error as Error).message).toMatch(cluster ? /root nodes are unavailable/ : /WRONGPASS/);
          expectNothingOf(wrongPassword, printed(error));
          expectNothingOf(password, printed(error));
        } finally {
          await failing.close();
        }
      }
      const logged = output.join('\n');
      expect(logged).toMatch(/redis connect failed/);
      expectNothingOf(wrongPassword, logged);
      expectNothingOf(password, logged);
    });
  });

  describe('signing secrets', () => {
    const longEnough = (secret: string) => `${secret}${'x'.repeat(32)}`;

    it.each(HOSTILE_PASSWORDS)('JWT_SECRET %p, too short: refused without a trace of it', (secret) => {
      const short = tooShort(secret);
      expectNothingOf(short, printed(configError({ REDIS_URL: 'redis://127.0.0.1:6379', JWT_SECRET: short })));
    });

    it.each(HOSTILE_PASSWORDS)('JWT_KEYS with the secret %p, cut at a comma or not: refused without a trace of it', async (secret) => {
      // A comma in a secret cuts its entry in two: what follows it up to a colon reads as a kid, so errors
      // must not name entries by kid. Each ring below is refused, for its second or third entry.
      const rings = [
        `k1:${tooShort(secret)}`,
        `k1:${longEnough(secret)},${secret}`,
        `k1:${longEnough(secret)},Kid${tag()}:${tooShort(secret)}`,
        `k1:${longEnough(`Head${tag()}`)},${secret.replace(/[^A-Za-z0-9]/g, '')}:${longEnough(secret)},${secret.replace(/[^A-Za-z0-9]/g, '')}:${longEnough(secret)}`,
      ];
      for (const ring of rings) {
        expectNothingOf(secret, printed(configError({ REDIS_URL: 'redis://127.0.0.1:6379', JWT_KEYS: ring })));
        // The same value read from SSM Parameter Store.
        const fromSsm = await caught(() => fetchKeyring('/app/jwt-keys', 1000, async () => ring));
        expect(fromSsm).toBeInstanceOf(ConfigError);
        expectNothingOf(secret, printed(fromSsm));
      }
    });
  });
});
