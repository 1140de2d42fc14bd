/**
 * The issuer documents: a private S3 bucket holding the discovery document and JWKS, served by
 * CloudFront through Origin Access Control; with a custom domain, the issuer certificate and the
 * alias records. The issuer URL (`iss`) is the distribution's or the custom domain's https URL.
 *
 * A part of `IamJwtIssuer`: its resources are created in the issuer's scope (see parts.ts).
 */
import { Aws, CfnRule, Duration, Fn, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './parts';
import { CDN_MAX_TTL } from './props';

/**
 * The two objects the rotate Lambda publishes (iamjwt_core::discovery::{DISCOVERY_PATH, JWKS_PATH}): only its role
 * may write them (the bucket policy of `IamJwtIssuer`).
 */
export const ISSUER_DOCUMENTS = ['.well-known/openid-configuration', '.well-known/jwks.json'] as const;

/** The JWKS object (iamjwt_core::discovery::JWKS_PATH): what token functions in several regions read back. */
export const JWKS_OBJECT: (typeof ISSUER_DOCUMENTS)[number] = ISSUER_DOCUMENTS[1];

/** The region CloudFront takes its certificates from. */
export const CLOUDFRONT_CERTIFICATE_REGION = 'us-east-1';

export interface IssuerDocumentsProps {
  /** The custom issuer domain and its zone; absent: the distribution's *.cloudfront.net name. */
  readonly customDomain?: {
    readonly zone: route53.IHostedZone;
    readonly domainName: string;
    /** An existing us-east-1 certificate; absent: one is created (only in us-east-1, see below). */
    readonly certificate?: acm.ICertificate;
  };
}

export class IssuerDocuments {
  public readonly bucket: s3.Bucket;
  public readonly distribution: cloudfront.Distribution;
  /** `iss` of every token: `https://<custom domain or distribution domain>`. */
  public readonly issuerUrl: string;

  constructor(scope: Construct, props: IssuerDocumentsProps) {
    const domain = props.customDomain;
    this.bucket = new s3.Bucket(scope, 'IssuerBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Verifiers may hold tokens that point at these documents: they outlive the stack.
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ id: 'expire-old-versions', noncurrentVersionExpiration: Duration.days(90) }],
    });
    // CloudFront caches at most CDN_MAX_TTL whatever the objects' Cache-Control says, so a new JWKS
    // reaches verifiers within jwksMaxAge + CDN_MAX_TTL (the bound minPublishAge is checked against).
    const cachePolicy = new cloudfront.CachePolicy(scope, 'IssuerDocumentsCachePolicy', {
      comment: 'iamjwt discovery + JWKS: short edge cache so rotations propagate quickly',
      minTtl: Duration.seconds(0),
      defaultTtl: Duration.seconds(60),
      maxTtl: CDN_MAX_TTL,
      enableAcceptEncodingGzip: true,
      enableAcceptEncodingBrotli: true,
    });
    this.distribution = new cloudfront.Distribution(scope, 'IssuerDistribution', {
      comment: 'iamjwt OIDC discovery and JWKS',
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket, {
          originAccessLevels: [cloudfront.AccessLevel.READ],
        }),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD,
        cachePolicy,
        compress: true,
        // Browser-based verifiers fetch the JWKS cross-origin; the documents are public anyway.
        responseHeadersPolicy: cloudfront.ResponseHeadersPolicy.CORS_ALLOW_ALL_ORIGINS_AND_SECURITY_HEADERS,
      },
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      ...(domain
        ? {
          domainNames: [domain.domainName],
          certificate: domain.certificate ?? cloudFrontCertificate(scope, domain.domainName, domain.zone),
          minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
        }
        : {}),
    });
    if (domain) {
      const target = route53.RecordTarget.fromAlias(new route53Targets.CloudFrontTarget(this.distribution));
      new route53.ARecord(scope, 'OidcRecord', { zone: domain.zone, recordName: domain.domainName, target });
      new route53.AaaaRecord(scope, 'OidcRecordV6', { zone: domain.zone, recordName: domain.domainName, target });
    }
    this.issuerUrl = domain ? `https://${domain.domainName}` : `https://${this.distribution.distributionDomainName}`;

    acknowledge(this.bucket, 'AwsSolutions-S1',
      'The bucket holds only the two public issuer documents and is read only through CloudFront; its one writer is the rotate '
      + 'Lambda, whose writes are in its logs and CloudTrail. Server access logs would record only CloudFront fetching public files.');
    acknowledge(this.distribution, 'AwsSolutions-CFR3',
      'Serves two public, non-personal documents (discovery and JWKS); request counts and error rates are in the CloudFront metrics. '
      + 'Standard logging would need an ACL-enabled log bucket for no security value.');
    acknowledge(this.distribution, 'AwsSolutions-CFR1',
      'Verifiers anywhere must be able to fetch the public JWKS; geo restriction would break token verification.');
    acknowledge(this.distribution, 'AwsSolutions-CFR2',
      'Static public documents cached at the edge; no request reaches anything but S3 via OAC, so WAF adds cost without protection.');
    if (!domain) {
      acknowledge(this.distribution, 'AwsSolutions-CFR4',
        'Without a custom domain the distribution uses the default *.cloudfront.net certificate, whose TLS policy cannot be set; '
        + 'with hostedZoneId/hostedZoneName the construct sets TLSv1.2_2021.');
    }
  }
}

/**
 * Only `writer` (the rotate Lambda's role) may write or delete the issuer documents: an explicit Deny to every other
 * principal, so an account administrator's `s3:*` (or a bucket-wide grant) cannot replace the JWKS with keys of their
 * own. `aws:PrincipalArn` is the role's ARN for every session of the role. Reads are untouched (CloudFront reads
 * through OAC with s3:GetObject). DeleteObjectVersion too: deleting the newest version rolls a document back.
 */
export function onlyWriterOfDocuments(bucket: s3.IBucket, writer: iam.IRole): void {
  bucket.addToResourcePolicy(new iam.PolicyStatement({
    sid: 'OnlyTheRotateRoleWritesTheIssuerDocuments',
    effect: iam.Effect.DENY,
    principals: [new iam.AnyPrincipal()],
    actions: ['s3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion'],
    resources: ISSUER_DOCUMENTS.map((key) => bucket.arnForObjects(key)),
    conditions: { StringNotEquals: { 'aws:PrincipalArn': writer.roleArn } },
  }));
}

/**
 * The issuer domain's certificate, DNS-validated in the zone. CloudFront only uses certificates from
 * us-east-1 and a CloudFormation stack creates resources only in its own region, so the construct
 * creates it only in a us-east-1 stack: `resolveConfig` refuses a custom domain in a stack of any
 * other known region unless `oidcCertificate` is given (a certificate the user created in us-east-1).
 * (The deprecated `DnsValidatedCertificate`, a custom resource requesting it cross-region, is gone.)
 * An environment-agnostic stack gets the certificate plus a template rule that stops the deployment,
 * before anything is created, in any region but us-east-1.
 */
function cloudFrontCertificate(scope: Construct, domainName: string, zone: route53.IHostedZone): acm.ICertificate {
  const region = Stack.of(scope).region;
  if (Token.isUnresolved(region)) {
    new CfnRule(scope, 'OidcCertificateRegion', {
      assertions: [{
        assert: Fn.conditionEquals(Aws.REGION, CLOUDFRONT_CERTIFICATE_REGION),
        assertDescription: `The issuer domain ${domainName} needs a certificate in us-east-1 (CloudFront): deploy this stack in `
          + 'us-east-1, or create the certificate there and pass oidcCertificate (app: -c oidcCertificateArn=...).',
      }],
    });
  } else if (region !== CLOUDFRONT_CERTIFICATE_REGION) {
    // resolveConfig refuses this first; kept so that the function cannot create an unusable certificate.
    throw new Error(`IamJwtIssuer: the issuer certificate must be created in us-east-1, the stack is in ${region}: pass oidcCertificate`);
  }
  return new acm.Certificate(scope, 'OidcCertificate', { domainName, validation: acm.CertificateValidation.fromDns(zone) });
}
