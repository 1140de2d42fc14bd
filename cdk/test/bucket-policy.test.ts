/**
 * Issue 19 §3: only the rotate role may write the issuer documents. The bucket policy denies writing or deleting
 * the discovery document and the JWKS to every other principal, an administrator with s3:* included; CloudFront
 * (Origin Access Control) still reads them. Checked on the template, and by deciding requests with an evaluator
 * written in the test (test/policy-evaluator.ts) against the synthesized policies.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ISSUER_DOCUMENTS } from '../lib/issuer-documents';
import { logicalId, synth } from './helpers';
import { bucketPolicy, Caller, decide, identityStatements, Request, resolve, roleArn, Template } from './policy-evaluator';

const DOCUMENTS = ['.well-known/openid-configuration', '.well-known/jwks.json'];
const WRITES = ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObject'];

describe('issuer bucket: only the rotate role writes the documents', () => {
  const s = synth();
  const template = s.template.toJSON() as Template;
  const bucketId = logicalId(s, s.issuer.issuerBucket);
  const rotateRoleId = logicalId(s, s.issuer.rotateFunction.role! as never);
  const bucketArn = resolve(template, { 'Fn::GetAtt': [bucketId, 'Arn'] }) as string;
  const policy = bucketPolicy(template, bucketId);

  // An administrator of the account: AdministratorAccess.
  const admin: Caller = { roleArn: roleArn('Administrator'), identity: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
  const rotate: Caller = { roleArn: roleArn(rotateRoleId), identity: identityStatements(template, rotateRoleId) };
  const request = (caller: Caller, action: string, key: string): Request => ({ caller, action, resource: `${bucketArn}/${key}` });

  test('the documents the construct protects are the ones iamjwt-core publishes', () => {
    const core = fs.readFileSync(path.join(__dirname, '..', '..', 'crates', 'iamjwt-core', 'src', 'discovery.rs'), 'utf8');
    const published = ['DISCOVERY_PATH', 'JWKS_PATH'].map((name) => new RegExp(`pub const ${name}: &str = "([^"]+)";`).exec(core)?.[1]);
    expect(published).toEqual(DOCUMENTS);
    expect([...ISSUER_DOCUMENTS]).toEqual(DOCUMENTS);
  });

  test('the template: one Deny of the writes on exactly the two documents, except for the rotate role', () => {
    const deny = template.Resources[Object.keys(template.Resources)
      .find((id) => template.Resources[id].Type === 'AWS::S3::BucketPolicy')!].Properties!.PolicyDocument as { Statement: Record<string, unknown>[] };
    const st = deny.Statement.filter((x) => x.Sid === 'OnlyTheRotateRoleWritesTheIssuerDocuments');
    expect(st).toHaveLength(1);
    expect(st[0]).toEqual({
      Sid: 'OnlyTheRotateRoleWritesTheIssuerDocuments',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: WRITES,
      // CDK sorts actions and resources.
      Resource: [...DOCUMENTS].sort().map((d) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${d}`]] })),
      Condition: { StringNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [rotateRoleId, 'Arn'] } } },
    });
  });

  test('an administrator with s3:* cannot write or delete either document (explicit deny)', () => {
    for (const key of DOCUMENTS) {
      for (const action of WRITES) {
        expect([action, key, decide(request(admin, action, key), policy)]).toEqual([action, key, 'ExplicitDeny']);
      }
    }
  });

  test('the rotate role writes both documents', () => {
    for (const key of DOCUMENTS) {
      expect(decide(request(rotate, 's3:PutObject', key), policy)).toBe('Allow');
      expect(decide(request(rotate, 's3:GetObject', key), policy)).toBe('Allow');
    }
    // Its own policy never allowed deleting them, nor writing elsewhere.
    expect(decide(request(rotate, 's3:DeleteObject', DOCUMENTS[1]), policy)).toBe('ImplicitDeny');
    expect(decide(request(rotate, 's3:PutObject', 'elsewhere.json'), policy)).toBe('ImplicitDeny');
  });

  test('a role that merely shares the rotate role\'s name prefix is denied', () => {
    const lookalike: Caller = { roleArn: `${roleArn(rotateRoleId)}-copy`, identity: identityStatements(template, rotateRoleId) };
    expect(decide(request(lookalike, 's3:PutObject', DOCUMENTS[1]), policy)).toBe('ExplicitDeny');
  });

  test('reads are unaffected: the administrator reads, CloudFront (OAC) reads, other keys stay the administrator\'s', () => {
    expect(decide(request(admin, 's3:GetObject', DOCUMENTS[1]), policy)).toBe('Allow');
    expect(decide(request(admin, 's3:PutObject', 'notes/readme.txt'), policy)).toBe('Allow');
    const distribution = resolve(template, {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudfront::', { Ref: 'AWS::AccountId' }, ':distribution/',
        { Ref: logicalId(s, s.issuer.distribution) }]],
    }) as string;
    const cloudfront: Caller = { service: 'cloudfront.amazonaws.com' };
    for (const key of DOCUMENTS) {
      expect(decide({ ...request(cloudfront, 's3:GetObject', key), context: { 'aws:SourceArn': distribution } }, policy)).toBe('Allow');
    }
    // The evaluator can deny CloudFront too: another distribution is not allowed.
    expect(decide({ ...request(cloudfront, 's3:GetObject', DOCUMENTS[1]), context: { 'aws:SourceArn': `${distribution}X` } }, policy))
      .toBe('ImplicitDeny');
  });

  test('plain HTTP is still refused to everyone, the rotate role included', () => {
    expect(decide({ ...request(rotate, 's3:PutObject', DOCUMENTS[1]), context: { 'aws:SecureTransport': 'false' } }, policy))
      .toBe('ExplicitDeny');
  });
});
