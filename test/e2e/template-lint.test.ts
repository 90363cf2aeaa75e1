// A template gate: cfn-lint (AWS's CloudFormation linter, Python) finds no error and no warning in what
// `serverless package` writes for each deployment target. Its suppressions are in .cfnlintrc.yaml, each with its
// reason. Without cfn-lint this fails, never skips: .ci/run installs it where it is missing.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AWS_TARGET_ARGS, packageService, REPO_ROOT, type Packaged } from '../../testkit/package-service';
import { apiEnvironment } from './start-api';

const CONFIG_FILE = join(REPO_ROOT, '.cfnlintrc.yaml');
/** The stack serverless creates first (the deployment bucket), and the one every deployment updates. */
const TEMPLATES = ['cloudformation-template-create-stack.json', 'cloudformation-template-update-stack.json'];

const run = promisify(execFile);

interface Finding {
  Level: string;
  Message: string;
  Filename: string;
  Rule: { Id: string };
  Location: { Path?: (string | number)[] };
}

/** cfn-lint's script on PATH, else its module: `pip install --user` can leave the script off PATH. */
async function cfnLint(): Promise<[string, string[]]> {
  for (const [command, args] of [
    ['cfn-lint', []],
    ['python3', ['-m', 'cfnlint']],
  ] as [string, string[]][]) {
    try {
      await run(command, [...args, '--version']);
      return [command, args];
    } catch {
      // Not this way; try the next.
    }
  }
  throw new Error("cfn-lint not found, neither as `cfn-lint` nor as `python3 -m cfnlint`: pip install 'cfn-lint==1.51.*' (.ci/run does)");
}

/**
 * Every finding of at least warning level. Only the given config file is read (cfn-lint then ignores
 * ~/.cfnlintrc too), so a developer's own settings cannot hide anything.
 */
async function lint(command: [string, string[]], dir: string): Promise<string[]> {
  const [file, args] = command;
  const lintArgs = [...args, '--format', 'json', '--config-file', CONFIG_FILE, '--', ...TEMPLATES.map((name) => join(dir, name))];
  // Nonzero exit on any finding: the report is on stdout either way.
  const { stdout, stderr } = await run(file, lintArgs, { cwd: REPO_ROOT }).catch((error: { stdout?: string; stderr?: string }) => ({
    stdout: error.stdout ?? '',
    stderr: error.stderr ?? '',
  }));
  let findings: Finding[];
  try {
    findings = JSON.parse(stdout) as Finding[];
  } catch {
    throw new Error(`cfn-lint printed no JSON report:\n${stdout}\n${stderr}`);
  }
  return findings.map(
    (finding) => `${finding.Level} ${finding.Rule.Id} ${finding.Filename.slice(dir.length + 1)} ${(finding.Location.Path ?? []).join('/')}: ${finding.Message}`,
  );
}

/** Each target, and the settings that add resources: CORS with one origin and with several, IAM, a quota. */
const TARGETS: [string, string[], Record<string, string>][] = [
  ['local (the default)', [], {}],
  ['local with one CORS origin', [], { CORS_ORIGINS: 'https://app.example.com' }],
  ['aws (stage prod) with a usage plan quota', [...AWS_TARGET_ARGS, '--param=usagePlanQuota=100000/DAY'], {}],
  [
    'aws with trustedCallers=iam and two CORS origins',
    [...AWS_TARGET_ARGS, '--param=trustedCallers=iam'],
    { CORS_ORIGINS: 'https://app.example.com,http://localhost:5173' },
  ],
];

const packaged = new Map<string, Packaged>();
let command: [string, string[]];

beforeAll(async () => {
  command = await cfnLint();
  const results = await Promise.all(TARGETS.map(([, args, variables]) => packageService(apiEnvironment(variables), args)));
  TARGETS.forEach(([target], index) => packaged.set(target, results[index] as Packaged));
}, 180_000);

afterAll(() => {
  for (const result of packaged.values()) result.remove();
});

describe('cfn-lint on the packaged templates', () => {
  test.each(TARGETS.map(([target]) => target))(
    '%s target: no error, no warning',
    async (target) => {
      const { dir } = packaged.get(target) as Packaged;
      expect(await lint(command, dir)).toEqual([]);
    },
    60_000,
  );
});
