import type { BuildOptions, Plugin } from 'esbuild';

declare function serverlessEsbuildOptions(serverless: { service: { custom: { esbuild: Record<string, unknown> } } }): Record<string, unknown>;

declare namespace serverlessEsbuildOptions {
  const LAMBDA_BUILD: BuildOptions & { target: string; external: string[]; plugins: Plugin[] };
}

export = serverlessEsbuildOptions;
