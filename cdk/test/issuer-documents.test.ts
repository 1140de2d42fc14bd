/** The issuer documents part (lib/issuer-documents.ts): bucket and CloudFront, as the issuer deploys them. */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as route53 from 'aws-cdk-lib/aws-route53';
import { IssuerDocuments } from '../lib/issuer-documents';
import { CDK_CONTEXT, flat, synth } from './helpers';

describe('issuer documents', () => {
  const s = synth();

  test('bucket: private, encrypted, versioned, TLS-only, retained on stack delete', () => {
    s.template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        VersioningConfiguration: { Status: 'Enabled' },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      },
    });
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        })]),
      },
    });
  });

  test('CloudFront reads it through Origin Access Control (no OAI), HTTPS only', () => {
    s.template.resourceCountIs('AWS::CloudFront::CloudFrontOriginAccessIdentity', 0);
    s.template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: { OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' },
    });
    s.template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Origins: [Match.objectLike({
          OriginAccessControlId: { 'Fn::GetAtt': [Match.stringLikeRegexp('OriginAccessControl'), 'Id'] },
          S3OriginConfig: { OriginAccessIdentity: '' },
        })],
        DefaultCacheBehavior: Match.objectLike({ ViewerProtocolPolicy: 'https-only', AllowedMethods: ['GET', 'HEAD'] }),
      }),
    });
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Effect: 'Allow',
          Principal: { Service: 'cloudfront.amazonaws.com' },
          Action: 's3:GetObject',
          Condition: { StringEquals: { 'AWS:SourceArn': Match.anyValue() } },
        })]),
      },
    });
  });

  test('the edge caches at most 5 minutes so rotations propagate within jwksMaxAge + 5 min', () => {
    s.template.hasResourceProperties('AWS::CloudFront::CachePolicy', {
      CachePolicyConfig: Match.objectLike({ MaxTTL: 300 }),
    });
  });
});

describe('IssuerDocuments on its own', () => {
  const zoneIn = (stack: Stack) => route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com' });
  const build = (region?: string, domain = true) => {
    const stack = new Stack(new App({ context: CDK_CONTEXT }), 'Docs', region ? { env: { region, account: '111122223333' } } : {});
    const docs = new IssuerDocuments(stack, domain ? { customDomain: { zone: zoneIn(stack), domainName: 'oidc.example.com' } } : {});
    return { stack, docs, template: Template.fromStack(stack) };
  };

  test('without a domain: one bucket, one distribution, issuer URL is the distribution\'s https URL', () => {
    const { stack, docs, template } = build(undefined, false);
    template.resourceCountIs('AWS::S3::Bucket', 1);
    template.resourceCountIs('AWS::CloudFront::Distribution', 1);
    template.resourceCountIs('AWS::CertificateManager::Certificate', 0);
    expect(flat(stack.resolve(docs.issuerUrl))).toMatch(/^https:\/\/<IssuerDistribution.*\.DomainName>$/);
  });

  test('custom domain in us-east-1: a DNS-validated Certificate (no custom resource), A and AAAA alias records', () => {
    const { docs, template } = build('us-east-1');
    expect(docs.issuerUrl).toBe('https://oidc.example.com');
    template.hasResourceProperties('AWS::CertificateManager::Certificate', {
      DomainName: 'oidc.example.com', ValidationMethod: 'DNS',
      DomainValidationOptions: [{ DomainName: 'oidc.example.com', HostedZoneId: 'Z0123456789ABCDEFGHIJ' }],
    });
    template.resourceCountIs('AWS::CloudFormation::CustomResource', 0);
    template.resourceCountIs('AWS::Lambda::Function', 0);
    template.resourceCountIs('AWS::Route53::RecordSet', 2);
    expect(Object.keys(template.toJSON().Rules ?? {})).not.toContain('OidcCertificateRegion');
  });

  test('custom domain, environment-agnostic stack: the template refuses to deploy outside us-east-1', () => {
    const { template } = build();
    template.resourceCountIs('AWS::CertificateManager::Certificate', 1);
    const rules = template.toJSON().Rules;
    expect(rules.OidcCertificateRegion.Assertions).toEqual([{
      Assert: { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'us-east-1'] },
      AssertDescription: expect.stringMatching(/needs a certificate in us-east-1 \(CloudFront\).*oidcCertificate/),
    }]);
  });

  test('custom domain in another region: refused, the certificate could not serve CloudFront', () => {
    expect(() => build('eu-west-1')).toThrow(/must be created in us-east-1, the stack is in eu-west-1: pass oidcCertificate/);
  });
});
