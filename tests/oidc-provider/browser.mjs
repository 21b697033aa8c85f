// Headless Debian Chromium for the sign-in tests, confined to 127.0.0.1.

import { existsSync } from 'node:fs';

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

// Without the background-networking flags Chromium keeps trying to reach Google services,
// which this network refuses. The resolver rule makes every host but 127.0.0.1 unresolvable.
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

export function isLoopback(url) {
  try {
    return new URL(url).hostname === '127.0.0.1';
  } catch {
    return false;
  }
}

// Starts Chromium and returns { browser, context, blocked }. Every request of the context that
// is not for 127.0.0.1 is aborted and its URL appended to `blocked`. The provider's dev pages,
// for example, link Google Fonts.
export async function launchConfinedBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: run scripts/test, which installs Debian's chromium package`);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  const context = await browser.newContext();
  const blocked = [];
  await context.route(() => true, (route) => {
    const url = route.request().url();
    if (isLoopback(url)) return route.continue();
    blocked.push(url);
    return route.abort('blockedbyclient');
  });
  return { browser, context, blocked };
}
