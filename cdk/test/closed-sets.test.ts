/** The CDK's algorithm list, key specs and defaults come from infra/closed-sets.json, nowhere else. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ALGORITHM_SPECS, DEFAULT_ALGORITHM, DEFAULT_ALGORITHMS, ISSUER_TAG, KEY_FACT_TAGS, KEY_SLOTS, loadClosedSets, NOT_RETRYABLE_STEP_ERRORS,
  POLICY_RULE_FIELDS, RETRYABLE_STEP_ERRORS, ROTATION_STEPS, SIGNING_ALGORITHMS,
} from '../lib/closed-sets';
import { validateAudiencePolicy } from '../lib/audience-policy';
import { resolveConfig } from '../lib/props';
import { BASE_PROPS, roleStatements, allowing, synth } from './helpers';

const FILE = path.resolve(__dirname, '..', '..', 'infra', 'closed-sets.json');
const json = JSON.parse(fs.readFileSync(FILE, 'utf8'));

describe('infra/closed-sets.json', () => {
  test('the exported sets are the file\'s, in its order', () => {
    expect(SIGNING_ALGORITHMS).toEqual(json.algorithms.map((a: { jose: string }) => a.jose));
    expect(ALGORITHM_SPECS.map((a) => [a.jose, a.kmsKeySpec, a.kmsSigningAlgorithm, a.defaultEnabled])).toEqual(
      json.algorithms.map((a: Record<string, unknown>) => [a.jose, a.kms_key_spec, a.kms_signing_algorithm, a.default_enabled]),
    );
    expect(ROTATION_STEPS).toEqual(json.rotation_steps);
    expect(KEY_SLOTS).toEqual(json.key_slots);
    expect(ISSUER_TAG).toBe(json.kms_key_tags.issuer);
    expect(KEY_FACT_TAGS).toEqual(json.kms_key_tags.facts);
    expect(POLICY_RULE_FIELDS).toEqual(json.policy_rule_fields);
    expect(RETRYABLE_STEP_ERRORS).toEqual(json.rotate_error_types.retryable);
    expect(NOT_RETRYABLE_STEP_ERRORS).toEqual(json.rotate_error_types.not_retryable);
  });

  test('the rotate Lambda\'s KMS permissions name the tag keys of the file', () => {
    const s = synth();
    const rotate = roleStatements(s, s.issuer.rotateFunction.role!);
    const create = allowing(rotate, 'kms:CreateKey')[0].Condition!;
    expect(create.StringEquals[`aws:RequestTag/${json.kms_key_tags.issuer}`]).toBe('alias/iamjwt');
    expect(create['ForAllValues:StringEquals']['aws:TagKeys']).toEqual([json.kms_key_tags.issuer, ...json.kms_key_tags.facts]);
  });

  test('the synth-time policy check accepts exactly the rule fields of the file', () => {
    const all = Object.fromEntries(json.policy_rule_fields.map((f: string) => [f, f === 'audiences' ? ['api://x'] : undefined]));
    expect(validateAudiencePolicy({ rules: [all as never] }, 3600).errors).toEqual([]);
    expect(validateAudiencePolicy({ rules: [{ audiences: ['a'], subject: 'x' } as never] }, 3600).errors)
      .toEqual([`rules[0]: unknown field 'subject' (allowed: ${json.policy_rule_fields.join(', ')})`]);
  });

  test('defaults stay RS256 + ES256, with RS256 the default algorithm', () => {
    expect(DEFAULT_ALGORITHMS).toEqual(['RS256', 'ES256']);
    expect(DEFAULT_ALGORITHM).toBe('RS256');
    const config = resolveConfig(BASE_PROPS, 'us-east-1');
    expect(config.algorithms).toEqual(['RS256', 'ES256']);
    expect(config.defaultAlgorithm).toBe('RS256');
  });

  test('an algorithm added to the file is accepted and granted with no TypeScript change', () => {
    const extended = {
      ...json,
      algorithms: [...json.algorithms, {
        jose: 'PS256', kms_key_spec: 'RSA_3072', kms_signing_algorithm: 'RSASSA_PSS_SHA_256', signature_bytes: 384, default_enabled: false,
      }],
    };
    jest.isolateModules(() => {
      jest.doMock('../../infra/closed-sets.json', () => extended);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const helpers = require('./helpers');
      const s = helpers.synth({ algorithms: ['PS256', 'ES256'] });
      const rotate = roleStatements(s, s.issuer.rotateFunction.role!);
      const token = roleStatements(s, s.issuer.tokenFunction.role!);
      expect(allowing(rotate, 'kms:CreateKey')[0].Condition!.StringEquals['kms:KeySpec']).toEqual(['RSA_3072', 'ECC_NIST_P256']);
      expect(allowing(token, 'kms:Sign')[0].Condition!.StringEquals['kms:SigningAlgorithm']).toEqual(['RSASSA_PSS_SHA_256', 'ECDSA_SHA_256']);
      // Not default-enabled: the defaults are unchanged.
      expect(helpers.synth().issuer.config.algorithms).toEqual(['RS256', 'ES256']);
    });
    jest.dontMock('../../infra/closed-sets.json');
  });

  test('a malformed file fails with a message naming the file and the problem', () => {
    const without = (k: string) => ({ ...json, algorithms: [{ ...json.algorithms[0], [k]: undefined }, ...json.algorithms.slice(1)] });
    expect(() => loadClosedSets(without('kms_key_spec'))).toThrow(/infra\/closed-sets.json: algorithms\[0\] needs jose .*kms_key_spec/);
    expect(() => loadClosedSets({ ...json, default_algorithm: 'ES384' })).toThrow(/default_algorithm must name an algorithm with default_enabled true, got "ES384"/);
    expect(() => loadClosedSets({ ...json, algorithms: [...json.algorithms, json.algorithms[0]] })).toThrow(/lists a JOSE name twice/);
    expect(() => loadClosedSets({ ...json, rotation_steps: [] })).toThrow(/rotation_steps must be a non-empty list/);
    expect(() => loadClosedSets({ ...json, kms_key_tags: undefined })).toThrow(/kms_key_tags must be an object/);
    expect(() => loadClosedSets({ ...json, kms_key_tags: { facts: ['iamjwt:kid'] } })).toThrow(/kms_key_tags.issuer must be a tag key/);
    expect(() => loadClosedSets({ ...json, policy_rule_fields: ['sub', 'sub'] })).toThrow(/policy_rule_fields lists a name twice/);
    expect(() => loadClosedSets({ ...json, rotate_error_types: { retryable: ['Retryable'], not_retryable: ['Retryable'] } }))
      .toThrow(/rotate_error_types lists an error type as both retryable and not retryable/);
  });

  test('the rotation steps are the ones the workflow file runs, in order', () => {
    const asl = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'infra', 'rotation.asl.json'), 'utf8'));
    const steps = Object.values(asl.States as Record<string, { Resource?: string; Parameters?: { Payload?: { step?: string } } }>)
      .filter((st) => st.Resource === 'arn:aws:states:::lambda:invoke')
      .map((st) => st.Parameters!.Payload!.step);
    expect(steps).toEqual([...ROTATION_STEPS]);
  });
});
