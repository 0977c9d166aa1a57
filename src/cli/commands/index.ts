/** Every CLI command, in the order `parasight --help` lists them. One import per command file. */
import type { Command } from '../command.js';
import { analyze } from './analyze.js';
import { baseline } from './baseline.js';
import { demo } from './demo.js';
import { learn } from './learn.js';
import { profile } from './profile.js';
import { watch } from './watch.js';

export const commands: Command[] = [demo, analyze, baseline, watch, learn, profile];
