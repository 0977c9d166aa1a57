#!/usr/bin/env node
/**
 * `parasight` command line: a thin layer over the public API. Exit codes: 0 ok/clean, 1 findings, 2 usage or
 * input error.
 */
import { ParasightError } from '../errors.js';
import { EXIT_USAGE, UsageError, type Command } from './command.js';
import { commands } from './commands/index.js';

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: parasight <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run "parasight <command> --help" for the options of a command.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help() + '\n');
    return name === undefined ? EXIT_USAGE : 0;
  }
  const command: Command | undefined = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`parasight: unknown command "${name}"\n\n${help()}\n`);
    return EXIT_USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.usage + '\n');
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`parasight ${command.name}: ${err.message}\n\n${command.usage}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof ParasightError) {
      process.stderr.write(`parasight ${command.name}: ${err.message} [${err.code}]\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

/**
 * Exits once what was written has gone out. Explicitly: a closed live capture (node-pcap) keeps its poll handle until
 * one more packet arrives on the interface, so on an idle interface the process would otherwise never end.
 */
function exit(code: number): void {
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

main(process.argv.slice(2)).then(exit, (err: unknown) => {
  process.stderr.write(`parasight: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  exit(70);
});
