/**
 * One version for the crates, the CLI, the Lambda zips and the construct: Cargo.toml's `[workspace.package] version`,
 * which `iamjwt describe --json` writes into infra/closed-sets.json, where the construct reads it.
 *
 * Runs the debug `iamjwt` binary (`make test` / cdk/check.sh build it first; alone: `cargo build -p iamjwt-cli`), from
 * $IAMJWT_BIN or ${CARGO_TARGET_DIR:-<repo>/target}/debug/iamjwt.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IamJwtIssuer } from '../lib/iamjwt-issuer';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = process.env.IAMJWT_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(REPO, 'target'), 'debug', 'iamjwt');

function iamjwt(...args: string[]): string {
  if (!fs.existsSync(BIN)) {
    throw new Error(`${BIN} does not exist: build it with \`cargo build -p iamjwt-cli\` (or set IAMJWT_BIN)`);
  }
  return execFileSync(BIN, args, { encoding: 'utf8' });
}

describe('one version', () => {
  test('IamJwtIssuer.VERSION is Cargo.toml\'s workspace version', () => {
    const cargo = fs.readFileSync(path.join(REPO, 'Cargo.toml'), 'utf8');
    const section = /^\[workspace\.package\]\n([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(cargo);
    const version = section && /^version\s*=\s*"([^"]+)"/m.exec(section[1]);
    expect(version?.[1]).toBeDefined();
    expect(IamJwtIssuer.VERSION).toBe(version![1]);
  });

  test('`iamjwt --version` and `iamjwt describe --json` report IamJwtIssuer.VERSION', () => {
    expect(iamjwt('--version').trim()).toBe(`iamjwt ${IamJwtIssuer.VERSION}`);
    expect(JSON.parse(iamjwt('describe', '--json')).version).toBe(IamJwtIssuer.VERSION);
  });

  test('the package manifest has no version of its own (make package writes IamJwtIssuer.VERSION into it)', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'construct', 'package.json'), 'utf8'));
    expect(manifest.name).toBe('iamjwt-cdk');
    expect(manifest.version).toBeUndefined();
  });
});
