/**
 * Where the Lambda code comes from (lib/lambda-code.ts): the packaged zips are used only when each has the SHA-256
 * recorded in the package, zips given by path only with the hash given with them; a changed byte fails the synth.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { chooseArchitecture, chooseLambdaCode, LAMBDA_MANIFEST_FILE, PACKAGED_LAMBDA_DIR, sha256File } from '../lib/lambda-code';
import { IAMJWT_VERSION } from '../lib/version';
import { build, logicalId, synth } from './helpers';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iamjwt-lambda-code-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A package's lambda/ directory as `make package` writes it: two zips and their manifest. */
function packaged(manifest: Partial<{ version: string; architecture: string }> = {}): string {
  const sha256: Record<string, string> = {};
  for (const fn of ['token', 'rotate']) {
    const file = path.join(dir, `${fn}.zip`);
    // Not a real zip: the check is over bytes, whatever they are.
    fs.writeFileSync(file, Buffer.from(`PK\u0003\u0004 ${fn} bootstrap bytes`));
    sha256[`${fn}.zip`] = sha256File(file);
  }
  fs.writeFileSync(path.join(dir, LAMBDA_MANIFEST_FILE), JSON.stringify({
    version: IAMJWT_VERSION, architecture: 'arm64', sha256, ...manifest,
  }));
  return dir;
}

function flipByte(file: string, at = 5): void {
  const bytes = fs.readFileSync(file);
  bytes[at] ^= 0x01;
  fs.writeFileSync(file, bytes);
}

function choose(props: Parameters<typeof chooseLambdaCode>[0], packagedDir = dir) {
  const errors: string[] = [];
  const code = chooseLambdaCode(props, (e) => errors.push(e), packagedDir);
  return { code, errors };
}

describe('the packaged zips', () => {
  test('are the default, with the architecture and version the package recorded', () => {
    packaged({ architecture: 'x86_64' });
    const { code, errors } = choose({});
    expect(errors).toEqual([]);
    expect(code).toEqual({
      tokenCodePath: path.join(dir, 'token.zip'),
      rotateCodePath: path.join(dir, 'rotate.zip'),
      recordedArchitecture: { value: 'x86_64', source: path.join(dir, LAMBDA_MANIFEST_FILE) },
    });
    // the installed package's directory, next to lib/ (where scripts/package-construct.sh puts them)
    expect(PACKAGED_LAMBDA_DIR).toBe(path.resolve(__dirname, '..', 'lambda'));
  });

  test('a flipped byte in a zip fails the synth, naming the file and both hashes', () => {
    packaged();
    const recorded = sha256File(path.join(dir, 'token.zip'));
    flipByte(path.join(dir, 'token.zip'));
    const { code, errors } = choose({});
    expect(code).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`${path.join(dir, 'token.zip')} has SHA-256 ${sha256File(path.join(dir, 'token.zip'))}, but the package recorded ${recorded}`);
    expect(errors[0]).toMatch(/changed or truncated after packaging.*Reinstall iamjwt-cdk/);
  });

  test('a truncated zip, a missing zip, a missing hash or another version is refused', () => {
    packaged();
    fs.truncateSync(path.join(dir, 'rotate.zip'), 4);
    expect(choose({}).errors[0]).toMatch(/rotate\.zip has SHA-256 [0-9a-f]{64}, but the package recorded/);
    packaged();
    fs.rmSync(path.join(dir, 'token.zip'));
    expect(choose({}).errors[0]).toMatch(/token\.zip is missing/);
    packaged();
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, LAMBDA_MANIFEST_FILE), 'utf8'));
    delete manifest.sha256['rotate.zip'];
    fs.writeFileSync(path.join(dir, LAMBDA_MANIFEST_FILE), JSON.stringify(manifest));
    expect(choose({}).errors[0]).toMatch(/no SHA-256 recorded for rotate\.zip/);
    packaged({ version: '0.0.1' });
    expect(choose({}).errors[0]).toContain(`the zips are version "0.0.1" but the construct is ${IAMJWT_VERSION}`);
  });

  test('without a manifest (a source checkout) the error says how to get Lambda code', () => {
    expect(choose({}).errors[0]).toMatch(/no Lambda code: .*manifest\.json does not exist.*make lambdas.*lambdaCodeDir/);
    // what a construct without lambdaCodeDir / lambdaZips does in this checkout (no cdk/lambda/ here)
    expect(fs.existsSync(path.join(PACKAGED_LAMBDA_DIR, LAMBDA_MANIFEST_FILE))).toBe(false);
    expect(() => build({ lambdaCodeDir: undefined })).toThrow(/no Lambda code: /);
  });
});

describe('lambdaZips', () => {
  function zips(): { tokenZip: string; rotateZip: string } {
    packaged();
    return { tokenZip: path.join(dir, 'token.zip'), rotateZip: path.join(dir, 'rotate.zip') };
  }

  test('deploys the given zips as they are (file assets), checked against the hashes given', () => {
    const z = zips();
    const s = synth({ lambdaCodeDir: undefined, lambdaZips: { ...z, tokenZipSha256: sha256File(z.tokenZip), rotateZipSha256: sha256File(z.rotateZip) } });
    // The asset CDK stages for each function is the zip itself, byte for byte (packaging `file`: not re-zipped).
    const out = s.app.synth().directory;
    const manifest = JSON.parse(fs.readFileSync(path.join(out, `${s.stack.artifactId}.assets.json`), 'utf8'));
    const staged = (f: lambda.Function) => {
      const key = s.template.toJSON().Resources[logicalId(s, f)].Properties.Code.S3Key;
      const [asset] = Object.values(manifest.files as Record<string, { source: { path: string; packaging: string }; destinations: Record<string, { objectKey: string }> }>)
        .filter((a) => Object.values(a.destinations).some((d) => d.objectKey === key));
      expect(asset.source.packaging).toBe('file');
      return sha256File(path.join(out, asset.source.path));
    };
    expect(staged(s.issuer.tokenFunction)).toBe(sha256File(z.tokenZip));
    expect(staged(s.issuer.rotateFunction)).toBe(sha256File(z.rotateZip));
  });

  test('a flipped byte against the given hash fails the synth', () => {
    const z = zips();
    const expected = sha256File(z.rotateZip);
    flipByte(z.rotateZip);
    expect(() => build({ lambdaCodeDir: undefined, lambdaZips: { ...z, rotateZipSha256: expected } }))
      .toThrow(new RegExp(`lambdaZips.rotateZip: .*rotate\\.zip has SHA-256 [0-9a-f]{64}, not the ${expected} given in rotateZipSha256`));
  });

  test('missing files, malformed hashes and both code props are refused', () => {
    const z = zips();
    expect(() => build({ lambdaCodeDir: undefined, lambdaZips: { ...z, tokenZip: path.join(dir, 'nope.zip') } }))
      .toThrow(/lambdaZips.tokenZip: .*nope\.zip is not a file/);
    expect(() => build({ lambdaCodeDir: undefined, lambdaZips: { ...z, tokenZipSha256: 'ABC' } }))
      .toThrow(/lambdaZips.tokenZipSha256 must be 64 lowercase hex digits/);
    expect(() => build({ lambdaZips: z })).toThrow(/give lambdaCodeDir .* or lambdaZips .*, not both/);
  });
});

describe('architecture', () => {
  const err = () => {
    const errors: string[] = [];
    return { errors, push: (e: string) => errors.push(e) };
  };

  test('the recorded one unless the prop says otherwise; ARM_64 when nothing is recorded', () => {
    const e = err();
    expect(chooseArchitecture(undefined, { value: 'x86_64', source: 'm' }, e.push)).toBe(lambda.Architecture.X86_64);
    expect(chooseArchitecture(undefined, undefined, e.push)).toBe(lambda.Architecture.ARM_64);
    expect(chooseArchitecture(lambda.Architecture.X86_64, undefined, e.push)).toBe(lambda.Architecture.X86_64);
    expect(chooseArchitecture(lambda.Architecture.ARM_64, { value: 'arm64', source: 'm' }, e.push)).toBe(lambda.Architecture.ARM_64);
    expect(e.errors).toEqual([]);
  });

  test('a prop that contradicts the code\'s recorded architecture is refused (the functions could not start)', () => {
    const e = err();
    chooseArchitecture(lambda.Architecture.ARM_64, { value: 'x86_64', source: '/pkg/cdk/lambda/manifest.json' }, e.push);
    expect(e.errors).toEqual([expect.stringMatching(/architecture is arm64 but the Lambda code was built for x86_64 \(\/pkg\/cdk\/lambda\/manifest\.json\)/)]);
  });
});
