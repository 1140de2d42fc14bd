import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IamJwtStack, IamJwtStackProps } from '../lib/iamjwt-stack';
import { WafUsage } from '../lib/props';
import { BASE_PROPS, CDK_CONTEXT } from './helpers';

interface Finding {
  readonly rule: string;
  readonly severity: string;
  readonly paths: string[];
}

/** Synthesize with the AwsSolutions pack and return every finding that is not acknowledged. */
function nagFindings(stackProps: IamJwtStackProps): Finding[] {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'iamjwt-nag-'));
  try {
    const app = new App({ context: CDK_CONTEXT, outdir });
    new IamJwtStack(app, 'Nag', stackProps);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    try {
      app.synth();
    } catch (e) {
      // Errors make synth throw after the report is written; the report is read below either way.
      if (!/ValidationFailed|Validation failed/.test(String(e))) throw e;
    }
    const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
    return report.pluginReports.flatMap((r: { violations: any[] }) => r.violations.map((v) => ({
      rule: v.ruleName,
      severity: v.severity,
      paths: v.violatingConstructs.map((c: { constructPath: string }) => c.constructPath),
    })));
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

const CONFIGS: Record<string, IamJwtStackProps> = {
  'defaults (environment-agnostic)': { issuer: BASE_PROPS },
  'custom domain in us-east-1, construct WAF, organization + accounts': {
    env: { region: 'us-east-1', account: '111122223333' },
    issuer: {
      ...BASE_PROPS,
      hostedZoneId: 'Z0123456789ABCDEFGHIJ',
      hostedZoneName: 'example.com',
      apiGwWaf: WafUsage.CONSTRUCT_PROVIDED,
      orgId: 'o-a1b2c3d4e5',
      allowedAccountIds: ['444455556666'],
    },
  },
  'custom domain elsewhere (given us-east-1 issuer certificate), existing Web ACL, no first rotation': {
    env: { region: 'eu-west-1', account: '111122223333' },
    oidcCertificateArn: 'arn:aws:acm:us-east-1:111122223333:certificate/11111111-2222-3333-4444-555555555555',
    issuer: {
      ...BASE_PROPS,
      hostedZoneId: 'Z0123456789ABCDEFGHIJ',
      hostedZoneName: 'example.com',
      apiGwWaf: WafUsage.PROVIDE_WEB_ACL_ARN,
      apiGwWafWebAclArn: 'arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/shared/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111',
      disableKeyRotateOnCreate: true,
      apiGatewayCloudWatchRole: false,
    },
  },
  'three regions (primary us-east-1, eu-west-1, ap-southeast-2), custom domain, construct WAF: every stack': {
    env: { region: 'us-east-1', account: '111122223333' },
    issuer: {
      ...BASE_PROPS,
      regions: ['us-east-1', 'eu-west-1', 'ap-southeast-2'],
      hostedZoneId: 'Z0123456789ABCDEFGHIJ',
      hostedZoneName: 'example.com',
      apiGwWaf: WafUsage.CONSTRUCT_PROVIDED,
    },
  },
  'three regions, no custom domain, no WAF: every stack': {
    env: { region: 'eu-west-1', account: '111122223333' },
    issuer: { ...BASE_PROPS, regions: ['eu-west-1', 'us-east-1', 'ap-southeast-2'] },
  },
  'principal tags read in this account and through a reader role in others (environment-agnostic)': {
    issuer: {
      ...BASE_PROPS,
      orgId: 'o-a1b2c3d4e5',
      sessionTags: true,
      tagReaderRoleName: 'iamjwt/tag-reader',
      tagCacheSeconds: 600,
    },
  },
};

describe('cdk-nag AwsSolutions', () => {
  test.each(Object.keys(CONFIGS))('no unacknowledged findings: %s', (name) => {
    expect(nagFindings(CONFIGS[name])).toEqual([]);
  });

  test.each(Object.keys(CONFIGS))('every acknowledgement has a reason and matches a real finding: %s', (name) => {
    const acks: { path: string; id: string; reason: string }[] = [];
    const spy = jest.spyOn(Validations.prototype, 'acknowledge').mockImplementation(function (this: any, a: { id: string; reason: string }) {
      acks.push({ path: this.scope.node.path, id: a.id, reason: a.reason });
    });
    let raw: Finding[];
    try {
      raw = nagFindings(CONFIGS[name]);
    } finally {
      spy.mockRestore();
    }
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) {
      // A written reason, not a placeholder.
      expect(a.reason.length).toBeGreaterThan(60);
      // Stale acknowledgements hide future findings: each must cover a finding that really occurs.
      const covered = raw.some((f) => f.rule === a.id && f.paths.some((p) => p === a.path || p.startsWith(`${a.path}/`)));
      expect({ ack: a.id, at: a.path, covered }).toEqual({ ack: a.id, at: a.path, covered: true });
    }
    // And without them, every finding is one of the acknowledged ones.
    for (const f of raw) {
      for (const at of f.paths) {
        const acked = acks.some((a) => a.id === f.rule && (at === a.path || at.startsWith(`${a.path}/`)));
        expect({ finding: f.rule, at, acked }).toEqual({ finding: f.rule, at, acked: true });
      }
    }
  });
});
