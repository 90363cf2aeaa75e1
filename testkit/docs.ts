// Text the tests take from the documentation, so that what the docs tell an operator to configure is what the
// tests run with: the two cannot drift apart.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The page holding the ACL user's rules (section "TLS and a least-privilege ACL user"), from the repository root. */
export const ACL_DOC = 'docs/operations.md';

/** A documentation page's text; `path` is relative to the repository root. */
export function readDoc(path: string): string {
  return readFileSync(join(__dirname, '..', path), 'utf8');
}

/**
 * The rules the docs give the application's ACL user, after `user jwt on >CHANGE-ME`, split on spaces, and
 * the one rule they add in cluster mode (`With \`REDIS_CLUSTER=true\`, add \`…\``).
 */
export function aclRulesFromDocs(): { rules: string[]; clusterRule: string } {
  const doc = readDoc(ACL_DOC);
  const line = /^user jwt on >CHANGE-ME (.+)$/m.exec(doc)?.[1];
  const clusterRule = /With `REDIS_CLUSTER=true`, add `(\S+)`/.exec(doc)?.[1];
  if (line === undefined || clusterRule === undefined) throw new Error(`${ACL_DOC} has no \`user jwt on >CHANGE-ME …\` line, or no rule to add for a cluster`);
  return { rules: line.split(' '), clusterRule };
}
