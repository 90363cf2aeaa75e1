// `serverless package` for a test, in a private copy of the service: serverless and serverless-esbuild both
// stage artifacts in <service>/.serverless and delete it afterwards, so two packagings of one directory (two
// jest workers, or a developer's own `serverless package`) would clobber each other.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';

export const REPO_ROOT = join(__dirname, '..');
const SERVERLESS_BIN = join(REPO_ROOT, 'node_modules', 'serverless', 'bin', 'serverless.js');
/** What `serverless package` reads: the service definition and the code it bundles. */
const SERVICE_FILES = ['serverless.yml', 'package.json', 'tsconfig.json', 'deploy', 'functions', 'shared'];
/** Variables that make packaging ask AWS for credentials: none may leak in from the developer's shell. */
const AWS_CREDENTIAL_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
];
/** What the aws target's SSM lookups are stubbed with. */
export const AWS_STUBS = {
  redisUrl: 'rediss://package-test-redis.example.internal:6379',
  securityGroupIds: 'sg-0123456789abcdef0,sg-0fedcba9876543210',
  subnetIds: 'subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb',
};
/** The aws target (stage prod), every SSM lookup stubbed: packaging it makes no AWS call. */
export const AWS_TARGET_ARGS = ['--stage', 'prod', ...Object.entries(AWS_STUBS).map(([name, value]) => `--param=${name}=${value}`)];

export type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: unknown; Condition?: string };
export type Template = { Resources: Record<string, Resource>; Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown } }> };

export interface Packaged {
  /** The folder holding the template and the function zips. */
  dir: string;
  template: Template;
  templatePath: string;
  /** Removes the copy of the service and everything packaged. */
  remove(): void;
}

/**
 * Packages the service with exactly `env` (see apiEnvironment) and the given CLI arguments, with no AWS
 * credentials from anywhere: packaging must not need them, and an SSM lookup left unstubbed fails.
 */
export async function packageService(env: NodeJS.ProcessEnv, args: string[] = []): Promise<Packaged> {
  const root = mkdtempSync(join(tmpdir(), 'sls-package-'));
  const service = join(root, 'service');
  for (const file of SERVICE_FILES) cpSync(join(REPO_ROOT, file), join(service, file), { recursive: true });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(service, 'node_modules'), 'dir');
  const out = join(root, 'out');
  const packagingEnv: NodeJS.ProcessEnv = {
    ...env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SHARED_CREDENTIALS_FILE: join(root, 'no-credentials'),
    AWS_CONFIG_FILE: join(root, 'no-config'),
    ESBUILD_WORK_FOLDER: '.esbuild',
    // serverless-esbuild 1.57.2 leaves a copy of every bundle in os.tmpdir() (it removes the temp folder
    // non-recursively): keep those inside this run's folder, which remove() deletes.
    TMPDIR: root,
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
  };
  for (const name of AWS_CREDENTIAL_VARIABLES) delete packagingEnv[name];
  try {
    await promisify(execFile)(process.execPath, [SERVERLESS_BIN, 'package', '--package', out, ...args], {
      cwd: service,
      env: packagingEnv,
      timeout: 50_000,
    });
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    // execFile's message is only "Command failed": what serverless printed says why.
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    if (error instanceof Error) error.message += `\n${stdout ?? ''}${stderr ?? ''}`;
    throw error;
  }
  const templatePath = join(out, 'cloudformation-template-update-stack.json');
  const template = JSON.parse(readFileSync(templatePath, 'utf8')) as Template;
  return { dir: out, template, templatePath, remove: () => rmSync(root, { recursive: true, force: true }) };
}

export function resourcesOfType(template: Template, type: string): [string, Resource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

export interface ZipEntry {
  name: string;
  content: Buffer;
}

/** Reads a zip's central directory and inflates each entry: enough for the archives serverless writes. */
export function readZip(path: string): ZipEntry[] {
  const zip = readFileSync(path);
  const endOfDirectory = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (endOfDirectory < 0) throw new Error(`${path} is not a zip`);
  const count = zip.readUInt16LE(endOfDirectory + 10);
  let offset = zip.readUInt32LE(endOfDirectory + 16);
  const entries: ZipEntry[] = [];
  for (let index = 0; index < count; index += 1) {
    const compression = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localHeader = zip.readUInt32LE(offset + 42);
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    const dataStart = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    entries.push({ name, content: compression === 0 ? data : inflateRawSync(data) });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}
