import type { Server } from 'node:http';

export interface StaticFile {
  type: string;
  body: Buffer;
}

export function createLocalGateway(options: {
  upstreamPort: number;
  stage: string;
  origins: readonly string[];
  files?: ReadonlyMap<string, StaticFile>;
}): Server;
export function browserMethods(pathname: string, stage: string): string[];
export function isOwnHost(host: string | undefined, port: number): boolean;
