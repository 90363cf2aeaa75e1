import { fieldsRead, logEvents, parseQuery, runQuery, type LogEvent } from '../../testkit/logs-insights';

/** Lines as the service writes them: JSON, with `time`. */
function line(time: string, fields: Record<string, unknown>): string {
  return JSON.stringify({ level: 'info', time, ...fields });
}

const LINES = [
  line('2026-01-31T12:00:05.000Z', { message: 'authorize', outcome: 'allow', Function: 'authorizer', latencyMs: 4, sub: 'ann' }),
  line('2026-01-31T12:00:45.000Z', { message: 'authorize', outcome: 'deny', Function: 'authorizer', latencyMs: 2, reason: 'TOKEN_EXPIRED' }),
  line('2026-01-31T12:01:10.000Z', { message: 'authorize', outcome: 'error', Function: 'httpAuthorizer', latencyMs: 300, reason: 'STORE_UNAVAILABLE' }),
  line('2026-01-31T12:01:20.000Z', { message: 'sign', outcome: 'error', Function: 'sign', latencyMs: 250, status: 503 }),
  line('2026-01-31T12:01:30.000Z', { message: 'redis connected', latencyMs: 12 }),
];

const run = (query: string, events: LogEvent[] = logEvents(LINES, 'stream-1')) => runQuery(parseQuery(query), events);
const messages = (query: string) => run(`fields message | ${query}`).map((row) => row.message);

describe('Function: logEvents', () => {
  it('reads each line as its JSON members, with @timestamp from `time`, @message the line and @logStream as given', () => {
    const [first] = logEvents([LINES[0] as string], 'stream-1');
    expect(first).toMatchObject({
      message: 'authorize',
      sub: 'ann',
      '@timestamp': Date.parse('2026-01-31T12:00:05.000Z'),
      '@message': LINES[0],
      '@logStream': 'stream-1',
    });
  });

  it('refuses a line that is not a JSON object with a time', () => {
    expect(() => logEvents(['plain text'], 's')).toThrow();
    expect(() => logEvents(['[1]'], 's')).toThrow(/not a JSON object/);
    expect(() => logEvents(['{"message":"x"}'], 's')).toThrow(/no time/);
  });
});

describe('Function: parseQuery', () => {
  it('reads commands separated by pipes, across lines', () => {
    expect(parseQuery('fields a, b\n| filter a = "x"\n| sort b desc\n| limit 5').commands.map((command) => command.kind)).toEqual([
      'fields',
      'filter',
      'sort',
      'limit',
    ]);
  });

  it.each([
    ['an unknown command', 'fields a | dedup a', /unknown command dedup/],
    ['an unknown stats function', 'stats sum(latencyMs)', /unknown function sum/],
    ['an unknown filter function', 'filter strlen(message) = 3', /unknown function strlen/],
    ['an operator outside the subset', 'filter latencyMs > 3', /cannot read ">/],
    ['a comment', '# why\nfilter a = "x"', /cannot read "#/],
    ['a sort without its order', 'sort a', /asc or desc/],
    ['a sort on two keys', 'sort a desc, b asc', /expected \| or the end/],
    ['a period of an unknown unit', 'stats count(*) by bin(5min)', /unknown period 5min/],
    ['a regex with flags', 'filter a like /x/i', /expected \| or the end/],
    ['like with a string', 'filter a like "x"', /a \/regex\/ after like/],
    ['an unclosed parenthesis', 'filter (a = "x"', /expected \)/],
    ['a keyword as a field', 'fields and', /a field name/],
    ['trailing words', 'limit 5 10', /expected \| or the end/],
  ])('throws on %s', (_, query, error) => {
    expect(() => parseQuery(query)).toThrow(error);
  });
});

describe('Function: runQuery', () => {
  describe('filter', () => {
    it('= and != compare strictly, and a missing field matches neither', () => {
      expect(messages('filter reason = "TOKEN_EXPIRED"')).toEqual(['authorize']);
      expect(messages('filter status = 503')).toEqual(['sign']);
      expect(messages('filter status = "503"')).toEqual([]);
      expect(messages('filter reason != "TOKEN_EXPIRED"')).toEqual(['authorize']);
    });

    it('binds and tighter than or, and parentheses override it', () => {
      expect(messages('filter outcome = "allow" or outcome = "error" and message = "sign"')).toEqual(['authorize', 'sign']);
      expect(messages('filter (outcome = "allow" or outcome = "error") and message = "sign"')).toEqual(['sign']);
    });

    it('not negates what follows it, a missing field included', () => {
      expect(messages('filter not ispresent(outcome)')).toEqual(['redis connected']);
      expect(messages('filter not (message = "authorize" or message = "sign")')).toEqual(['redis connected']);
      expect(messages('filter not reason = "TOKEN_EXPIRED" and ispresent(reason)')).toEqual(['authorize']);
    });

    it('like tests a regex against the value, in tests membership', () => {
      expect(messages('filter message like /^redis /')).toEqual(['redis connected']);
      expect(messages('filter reason like /\\(?STORE_/')).toEqual(['authorize']);
      expect(messages('filter Function in ["sign", "httpAuthorizer"]')).toEqual(['authorize', 'sign']);
      expect(messages('filter latencyMs in [2, 12]')).toEqual(['authorize', 'redis connected']);
    });
  });

  describe('stats', () => {
    it('counts by fields, a missing value being a group of its own', () => {
      expect(run('stats count(*) as lines by outcome')).toEqual([
        { outcome: 'allow', lines: 1 },
        { outcome: 'deny', lines: 1 },
        { outcome: 'error', lines: 2 },
        { lines: 1 },
      ]);
    });

    it('bins @timestamp by period, shown as the console shows times', () => {
      expect(run('filter ispresent(Function) | stats count(*) by bin(1m), Function')).toEqual([
        { 'bin(1m)': '2026-01-31 12:00:00.000', Function: 'authorizer', 'count(*)': 2 },
        { 'bin(1m)': '2026-01-31 12:01:00.000', Function: 'httpAuthorizer', 'count(*)': 1 },
        { 'bin(1m)': '2026-01-31 12:01:00.000', Function: 'sign', 'count(*)': 1 },
      ]);
    });

    it('computes pct by nearest rank, avg, max, and count(field) of the lines that have it', () => {
      const latencies = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((latencyMs, i) => line(`2026-01-31T12:00:0${i}.000Z`, { latencyMs }));
      const events = logEvents([...latencies, line('2026-01-31T12:00:10.000Z', { latencyMs: 'n/a' })], 's');
      expect(run('stats pct(latencyMs, 50) as p50, pct(latencyMs, 99), avg(latencyMs), max(latencyMs), count(latencyMs), count(*)', events)).toEqual([
        { p50: 5, 'pct(latencyMs, 99)': 10, 'avg(latencyMs)': 5.5, 'max(latencyMs)': 10, 'count(latencyMs)': 11, 'count(*)': 11 },
      ]);
    });

    it('leaves out an aggregate with no number to work on', () => {
      expect(run('filter message = "redis connected" | stats count(*) as lines, pct(RedisLatency, 99) as p99')).toEqual([{ lines: 1 }]);
    });
  });

  describe('fields, display, sort and limit', () => {
    it('shows @timestamp and @message when nothing says which fields', () => {
      expect(run('limit 1')).toEqual([{ '@timestamp': '2026-01-31 12:00:05.000', '@message': LINES[0] }]);
    });

    it('sorts by a field, missing values last either way, then limits', () => {
      expect(run('fields message, latencyMs | sort latencyMs desc | limit 2')).toEqual([
        { message: 'authorize', latencyMs: 300 },
        { message: 'sign', latencyMs: 250 },
      ]);
      expect(run('fields reason | sort reason asc').map((row) => row.reason)).toEqual(['STORE_UNAVAILABLE', 'TOKEN_EXPIRED', undefined, undefined, undefined]);
      expect(run('fields reason | sort reason desc').map((row) => row.reason)).toEqual(['TOKEN_EXPIRED', 'STORE_UNAVAILABLE', undefined, undefined, undefined]);
    });

    it('sorts stats rows by an alias, and display picks the columns shown', () => {
      expect(run('stats count(*) as lines by message | sort lines desc | display message')).toEqual([
        { message: 'authorize' },
        { message: 'sign' },
        { message: 'redis connected' },
      ]);
    });
  });
});

describe('Function: fieldsRead', () => {
  it('lists the log fields a query reads, not the names its stats define', () => {
    const query = parseQuery('fields @timestamp, sid | filter a = "x" or not ispresent(b) | stats count(*) as n, pct(c, 99) by bin(1m), d | sort n desc');
    expect(fieldsRead(query).sort()).toEqual(['@timestamp', 'a', 'b', 'c', 'd', 'sid']);
  });
});
