/** The composed issuer: what spans several parts (custom domains). */
import { Match } from 'aws-cdk-lib/assertions';
import { synth } from './helpers';

describe('custom domain', () => {
  const zone = { hostedZoneId: 'Z0123456789ABCDEFGHIJ', hostedZoneName: 'example.com' };

  test('issuer and token endpoint move to <sub>.<zone> with certificates, TLS 1.2 and alias records', () => {
    const s = synth(zone, { env: { region: 'us-east-1', account: '111122223333' } });
    s.template.resourceCountIs('AWS::CertificateManager::Certificate', 2);
    s.template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Aliases: ['oidc.example.com'],
        ViewerCertificate: Match.objectLike({ MinimumProtocolVersion: 'TLSv1.2_2021', SslSupportMethod: 'sni-only' }),
      }),
    });
    s.template.hasResourceProperties('AWS::ApiGateway::DomainName', {
      DomainName: 'token.example.com', SecurityPolicy: 'TLS_1_2', EndpointConfiguration: { Types: ['REGIONAL'] },
    });
    s.template.resourceCountIs('AWS::Route53::RecordSet', 3); // A for the API; A + AAAA for CloudFront
    s.template.hasOutput('IssuerUrl', { Value: 'https://oidc.example.com' });
    s.template.hasOutput('TokenEndpoint', { Value: 'https://token.example.com/token' });
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ IAMJWT_ISSUER: 'https://oidc.example.com' }) },
    });
  });

  test('given certificates are used as they are; subdomains are configurable', () => {
    const s = synth({ ...zone, oidcSubdomain: 'id', tokenSubdomain: 'sts' }, {
      env: { region: 'eu-west-1', account: '111122223333' },
      oidcCertificateArn: 'arn:aws:acm:us-east-1:111122223333:certificate/11111111-2222-3333-4444-555555555555',
      tokenCertificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/66666666-7777-8888-9999-000000000000',
    });
    s.template.resourceCountIs('AWS::CertificateManager::Certificate', 0);
    s.template.hasOutput('IssuerUrl', { Value: 'https://id.example.com' });
    s.template.hasOutput('TokenEndpoint', { Value: 'https://sts.example.com/token' });
  });
});
