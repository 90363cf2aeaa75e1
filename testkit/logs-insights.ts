// A CloudWatch Logs Insights evaluator for the part of the query language that docs/queries/ uses, so that those
// queries run in tests over the lines the service really writes. Anything outside that part throws: a query the
// evaluator only half understood would pass for checked.
//
// The part: commands `fields`, `filter`, `stats`, `sort`, `limit`, `display`; in filters `=`, `!=`, `like /regex/`,
// `in [...]`, `ispresent()`, `and`, `or`, `not` and parentheses; in stats `count(*)`, `count(field)`, `avg`, `max`,
// `pct` and `by` fields or `bin(period)`. Comparisons are strict (a string never equals a number) and false for a
// missing field, so a query that leans on a conversion Logs Insights may not make fails here rather than there.

/** One log event as Logs Insights sees it: the line's JSON members, and @timestamp (ms), @message and @logStream. */
export type LogEvent = Readonly<Record<string, unknown>>;

/** One result row: the query's columns, a missing value left out, times as the console shows them. */
export type Row = Record<string, unknown>;

type Literal = string | number;

type Expr =
  | { kind: 'and'; left: Expr; right: Expr }
  | { kind: 'or'; left: Expr; right: Expr }
  | { kind: 'not'; operand: Expr }
  | { kind: 'ispresent'; field: string }
  | { kind: 'compare'; field: string; negated: boolean; value: Literal }
  | { kind: 'like'; field: string; pattern: RegExp }
  | { kind: 'in'; field: string; values: Literal[] };

interface Aggregate {
  fn: 'count' | 'avg' | 'max' | 'pct';
  /** Undefined for `count(*)`. */
  field: string | undefined;
  percent: number;
  name: string;
}

type Group = { kind: 'field'; field: string; name: string } | { kind: 'bin'; periodMs: number; name: string };

type Command =
  | { kind: 'fields' | 'display'; fields: string[] }
  | { kind: 'filter'; expr: Expr }
  | { kind: 'stats'; aggregates: Aggregate[]; groups: Group[] }
  | { kind: 'sort'; field: string; descending: boolean }
  | { kind: 'limit'; count: number };

export interface Query {
  readonly commands: readonly Command[];
}

/** Reads raw lines as Logs Insights would a Lambda function's: each a JSON object, its time in `time`. */
export function logEvents(lines: readonly string[], logStream: string): LogEvent[] {
  return lines.map((line) => {
    const fields: unknown = JSON.parse(line);
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw new Error(`not a JSON object: ${line}`);
    const time = Date.parse(String((fields as { time?: unknown }).time));
    if (Number.isNaN(time)) throw new Error(`no time in: ${line}`);
    return { ...fields, '@timestamp': time, '@message': line, '@logStream': logStream };
  });
}

// ---- Parsing ----

type Token =
  | { kind: 'word'; text: string }
  | { kind: 'string'; value: string; text: string }
  | { kind: 'number'; value: number; text: string }
  | { kind: 'period'; ms: number; text: string }
  | { kind: 'regex'; pattern: RegExp; text: string }
  | { kind: 'symbol'; text: string };

const TOKEN =
  /\s+|(?<string>"[^"]*"|'[^']*')|(?<regex>\/(?:\\.|[^\\/\n])+\/)|(?<period>\d+[a-z]+)|(?<number>\d+(?:\.\d+)?)|(?<word>@?[A-Za-z_][A-Za-z0-9_]*)|(?<symbol>!=|[|,()[\]*=])/y;
const PERIOD_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const KEYWORDS = new Set(['and', 'or', 'not', 'like', 'in', 'as', 'by', 'asc', 'desc']);

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(text);
    if (match === null) throw new Error(`Logs Insights subset: cannot read ${JSON.stringify(text.slice(at, at + 20))}`);
    const { string, regex, period, number, word, symbol } = match.groups ?? {};
    if (string !== undefined) tokens.push({ kind: 'string', value: string.slice(1, -1), text: string });
    else if (regex !== undefined) tokens.push({ kind: 'regex', pattern: new RegExp(regex.slice(1, -1)), text: regex });
    else if (period !== undefined) tokens.push({ kind: 'period', ms: periodMs(period), text: period });
    else if (number !== undefined) tokens.push({ kind: 'number', value: Number(number), text: number });
    else if (word !== undefined) tokens.push({ kind: 'word', text: word });
    else if (symbol !== undefined) tokens.push({ kind: 'symbol', text: symbol });
  }
  return tokens;
}

function periodMs(text: string): number {
  const [, count, unit] = /^(\d+)([a-z]+)$/.exec(text) ?? [];
  const ms = PERIOD_UNITS[unit ?? ''];
  if (ms === undefined) throw new Error(`Logs Insights subset: unknown period ${text}`);
  return Number(count) * ms;
}

const tokenText = (token: Token | undefined): string => (token === undefined ? 'the end' : JSON.stringify(token.text));

class Parser {
  #at = 0;

  constructor(private readonly tokens: Token[]) {}

  query(): Query {
    const commands: Command[] = [this.command()];
    while (this.symbolIs('|')) {
      this.#at += 1;
      commands.push(this.command());
    }
    if (this.peek() !== undefined) this.fail('| or the end');
    return { commands };
  }

  private command(): Command {
    const name = this.word();
    switch (name) {
      case 'fields':
      case 'display':
        return { kind: name, fields: this.list(() => this.field()) };
      case 'filter':
        return { kind: 'filter', expr: this.or() };
      case 'stats': {
        const aggregates = this.list(() => this.aggregate());
        if (!this.wordIs('by')) return { kind: 'stats', aggregates, groups: [] };
        this.#at += 1;
        return { kind: 'stats', aggregates, groups: this.list(() => this.group()) };
      }
      case 'sort': {
        const field = this.field();
        // Explicit: the subset does not guess the default order.
        const order = this.next();
        if (order?.text !== 'asc' && order?.text !== 'desc') this.fail(`asc or desc after sort ${field}`, order);
        return { kind: 'sort', field, descending: order.text === 'desc' };
      }
      case 'limit':
        return { kind: 'limit', count: this.number() };
      default:
        throw new Error(`Logs Insights subset: unknown command ${name}`);
    }
  }

  private aggregate(): Aggregate {
    const fn = this.word();
    if (fn !== 'count' && fn !== 'avg' && fn !== 'max' && fn !== 'pct') throw new Error(`Logs Insights subset: unknown function ${fn}`);
    this.symbol('(');
    let field: string | undefined;
    if (fn === 'count' && this.symbolIs('*')) this.#at += 1;
    else field = this.field();
    let percent = 0;
    if (fn === 'pct') {
      this.symbol(',');
      percent = this.number();
    }
    this.symbol(')');
    const name = this.alias() ?? `${fn}(${field ?? '*'}${fn === 'pct' ? `, ${percent}` : ''})`;
    return { fn, field, percent, name };
  }

  private group(): Group {
    if (this.wordIs('bin') && this.tokens[this.#at + 1]?.text === '(') {
      this.#at += 2;
      const period = this.next();
      if (period?.kind !== 'period') this.fail('a period such as 1m', period);
      this.symbol(')');
      return { kind: 'bin', periodMs: period.ms, name: `bin(${period.text})` };
    }
    const field = this.field();
    return { kind: 'field', field, name: field };
  }

  private or(): Expr {
    let left = this.and();
    while (this.wordIs('or')) {
      this.#at += 1;
      left = { kind: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): Expr {
    let left = this.not();
    while (this.wordIs('and')) {
      this.#at += 1;
      left = { kind: 'and', left, right: this.not() };
    }
    return left;
  }

  private not(): Expr {
    if (!this.wordIs('not')) return this.condition();
    this.#at += 1;
    return { kind: 'not', operand: this.not() };
  }

  private condition(): Expr {
    if (this.symbolIs('(')) {
      this.#at += 1;
      const inner = this.or();
      this.symbol(')');
      return inner;
    }
    if (this.wordIs('ispresent')) {
      this.#at += 1;
      this.symbol('(');
      const field = this.field();
      this.symbol(')');
      return { kind: 'ispresent', field };
    }
    const field = this.field();
    if (this.symbolIs('(')) throw new Error(`Logs Insights subset: unknown function ${field}`);
    const operator = this.next();
    if (operator?.text === '=' || operator?.text === '!=') return { kind: 'compare', field, negated: operator.text === '!=', value: this.literal() };
    if (operator?.text === 'like') {
      const pattern = this.next();
      if (pattern?.kind !== 'regex') this.fail('a /regex/ after like', pattern);
      return { kind: 'like', field, pattern: pattern.pattern };
    }
    if (operator?.text === 'in') {
      this.symbol('[');
      const values = this.list(() => this.literal());
      this.symbol(']');
      return { kind: 'in', field, values };
    }
    this.fail(`=, !=, like or in after ${field}`, operator);
  }

  private literal(): Literal {
    const token = this.next();
    if (token?.kind === 'string' || token?.kind === 'number') return token.value;
    this.fail('a string or a number', token);
  }

  private list<T>(item: () => T): T[] {
    const items = [item()];
    while (this.symbolIs(',')) {
      this.#at += 1;
      items.push(item());
    }
    return items;
  }

  private alias(): string | undefined {
    if (!this.wordIs('as')) return undefined;
    this.#at += 1;
    return this.field();
  }

  private field(): string {
    const token = this.next();
    if (token?.kind !== 'word' || KEYWORDS.has(token.text)) this.fail('a field name', token);
    return token.text;
  }

  private word(): string {
    const token = this.next();
    if (token?.kind !== 'word') this.fail('a word', token);
    return token.text;
  }

  private number(): number {
    const token = this.next();
    if (token?.kind !== 'number') this.fail('a number', token);
    return token.value;
  }

  private symbol(text: string): void {
    const token = this.next();
    if (token?.kind !== 'symbol' || token.text !== text) this.fail(text, token);
  }

  private symbolIs(text: string): boolean {
    const token = this.peek();
    return token?.kind === 'symbol' && token.text === text;
  }

  private wordIs(text: string): boolean {
    const token = this.peek();
    return token?.kind === 'word' && token.text === text;
  }

  private peek(): Token | undefined {
    return this.tokens[this.#at];
  }

  private next(): Token | undefined {
    const token = this.tokens[this.#at];
    this.#at += 1;
    return token;
  }

  private fail(expected: string, found: Token | undefined = this.peek()): never {
    throw new Error(`Logs Insights subset: expected ${expected}, found ${tokenText(found)}`);
  }
}

/** Parses a query of the subset; throws on anything else. */
export function parseQuery(text: string): Query {
  return new Parser(tokenize(text)).query();
}

/** The log fields `query` reads (the names its stats define excepted): a query naming a field no line has finds nothing. */
export function fieldsRead(query: Query): string[] {
  const read = new Set<string>();
  let defined = new Set<string>();
  const use = (field: string | undefined) => {
    if (field !== undefined && !defined.has(field)) read.add(field);
  };
  for (const command of query.commands) {
    if (command.kind === 'fields' || command.kind === 'display') command.fields.forEach(use);
    else if (command.kind === 'filter') exprFields(command.expr).forEach(use);
    else if (command.kind === 'sort') use(command.field);
    else if (command.kind === 'stats') {
      for (const { field } of command.aggregates) use(field);
      for (const group of command.groups) if (group.kind === 'field') use(group.field);
      defined = new Set(statsColumns(command));
    }
  }
  return [...read];
}

function exprFields(expr: Expr): string[] {
  if (expr.kind === 'and' || expr.kind === 'or') return [...exprFields(expr.left), ...exprFields(expr.right)];
  if (expr.kind === 'not') return exprFields(expr.operand);
  return [expr.field];
}

// ---- Running ----

/** Runs `query` over `events`, as Logs Insights over one time range: the result rows, in order. */
export function runQuery(query: Query, events: readonly LogEvent[]): Row[] {
  let rows: Row[] = [...events];
  let columns: string[] | undefined;
  // Shown as the console shows times: @timestamp, then stats' bins.
  let timeColumns = new Set(['@timestamp']);
  for (const command of query.commands) {
    switch (command.kind) {
      case 'fields':
        columns = [...(columns ?? []), ...command.fields];
        break;
      case 'display':
        columns = command.fields;
        break;
      case 'filter':
        rows = rows.filter((row) => matches(command.expr, row));
        break;
      case 'stats':
        rows = aggregate(command, rows);
        columns = statsColumns(command);
        timeColumns = new Set(command.groups.filter((group) => group.kind === 'bin').map((group) => group.name));
        break;
      case 'sort':
        rows = [...rows].sort((a, b) => compare(a[command.field], b[command.field], command.descending));
        break;
      case 'limit':
        rows = rows.slice(0, command.count);
        break;
    }
  }
  // Without fields, display or stats, the console shows these two.
  const shown = columns ?? ['@timestamp', '@message'];
  return rows.map((row) => {
    const projected: Row = {};
    for (const column of shown) {
      const value = row[column];
      if (isPresent(value)) projected[column] = timeColumns.has(column) && typeof value === 'number' ? consoleTime(value) : value;
    }
    return projected;
  });
}

const isPresent = (value: unknown): boolean => value !== undefined && value !== null;

function matches(expr: Expr, row: Row): boolean {
  switch (expr.kind) {
    case 'and':
      return matches(expr.left, row) && matches(expr.right, row);
    case 'or':
      return matches(expr.left, row) || matches(expr.right, row);
    case 'not':
      return !matches(expr.operand, row);
    case 'ispresent':
      return isPresent(row[expr.field]);
    case 'compare':
      return isPresent(row[expr.field]) && (row[expr.field] === expr.value) !== expr.negated;
    case 'like': {
      const value = row[expr.field];
      return (typeof value === 'string' || typeof value === 'number') && expr.pattern.test(String(value));
    }
    case 'in':
      return expr.values.includes(row[expr.field] as Literal);
  }
}

function statsColumns(command: Extract<Command, { kind: 'stats' }>): string[] {
  return [...command.groups.map((group) => group.name), ...command.aggregates.map((aggregate) => aggregate.name)];
}

/** One row per distinct combination of the `by` values; a missing value is a group of its own, as a blank cell. */
function aggregate(command: Extract<Command, { kind: 'stats' }>, rows: readonly Row[]): Row[] {
  const groups = new Map<string, { key: Row; members: Row[] }>();
  for (const row of rows) {
    const key: Row = {};
    for (const group of command.groups) {
      const value = group.kind === 'bin' ? Math.floor((row['@timestamp'] as number) / group.periodMs) * group.periodMs : row[group.field];
      if (isPresent(value)) key[group.name] = value;
    }
    const id = JSON.stringify(command.groups.map((group) => key[group.name] ?? null));
    const found = groups.get(id) ?? { key, members: [] };
    found.members.push(row);
    groups.set(id, found);
  }
  return [...groups.values()].map(({ key, members }) => {
    const result: Row = { ...key };
    for (const item of command.aggregates) {
      const value = aggregateValue(item, members);
      if (value !== undefined) result[item.name] = value;
    }
    return result;
  });
}

function aggregateValue({ fn, field, percent }: Aggregate, members: readonly Row[]): number | undefined {
  if (field === undefined) return members.length;
  if (fn === 'count') return members.filter((row) => isPresent(row[field])).length;
  const values = members.map((row) => row[field]).filter((value): value is number => typeof value === 'number');
  if (values.length === 0) return undefined;
  if (fn === 'avg') return values.reduce((sum, value) => sum + value, 0) / values.length;
  if (fn === 'max') return Math.max(...values);
  // Nearest rank: Logs Insights estimates percentiles, which agree with it on the handful of lines a test writes.
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(Math.ceil((percent / 100) * sorted.length) - 1, 0)];
}

/** Missing values last, whichever the order. */
function compare(a: unknown, b: unknown, descending: boolean): number {
  if (!isPresent(a) || !isPresent(b)) return Number(!isPresent(a)) - Number(!isPresent(b));
  const order = typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
  return descending ? -order : order;
}

/** `2026-01-31 12:00:00.000`, UTC. */
function consoleTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}
