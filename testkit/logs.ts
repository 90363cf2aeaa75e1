// Captures what the service logs (JSON lines on stdout and stderr) during a test, one entry per line.
export function captureLogs(): string[] {
  const lines: string[] = [];
  const capture = (chunk: unknown): boolean => {
    for (const line of String(chunk).split('\n')) if (line !== '') lines.push(line);
    return true;
  };
  jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  return lines;
}
