/**
 * Debian's chromium driven by playwright-core, for the tests that look at a page as a person
 * would. The flags keep a root, sandbox-less, offline machine quiet: no sandbox, no GPU, and no
 * background connections (this machine's closed network refuses them).
 */
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

export type PlaywrightCore = typeof import('playwright-core');

/** playwright-core, or why the browser tests must skip. */
export async function loadPlaywright(): Promise<PlaywrightCore | string> {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install -y chromium)`;
  try {
    return await import('playwright-core');
  } catch (e) {
    return `playwright-core is not installed (${(e as Error).message})`;
  }
}

export function launchChromium(pw: PlaywrightCore): Promise<import('playwright-core').Browser> {
  return pw.chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
