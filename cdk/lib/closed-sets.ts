/**
 * The closed sets the CDK shares with the Rust core, read from `infra/closed-sets.json` (the core's
 * tables, mirrored and checked by a Rust test): the signing algorithms with their KMS key spec and
 * signing algorithm, which are enabled by default, the default algorithm, the rotation steps, the
 * key slots, the KMS key tags, the audience policy rule fields and the rotate step error types.
 * Adding an algorithm to that file makes the construct accept it (and grant its key spec) with no
 * change here.
 *
 * The file is checked when this module loads, so a malformed entry fails every synth with a message
 * naming it instead of producing a template with a hole in a policy.
 */
import closedSetsJson from '../../infra/closed-sets.json';

/** One JWS algorithm the issuer can sign with (DESIGN.md §5). */
export interface AlgorithmSpec {
  /** JOSE name (`alg` header), e.g. RS256. */
  readonly jose: string;
  /** KMS KeySpec of its keys, e.g. RSA_2048. */
  readonly kmsKeySpec: string;
  /** KMS SigningAlgorithm it signs with, e.g. RSASSA_PKCS1_V1_5_SHA_256. */
  readonly kmsSigningAlgorithm: string;
  /** Enabled when the `algorithms` prop is absent. */
  readonly defaultEnabled: boolean;
}

/**
 * A JWS algorithm name. The set is data (infra/closed-sets.json), not a TypeScript union, so the type
 * is a string and `resolveConfig` refuses any name not in `SIGNING_ALGORITHMS` at synth time; use
 * `isSigningAlgorithm` to check one.
 */
export type SigningAlgorithm = string;

export const CLOSED_SETS_FILE = 'infra/closed-sets.json';

function load(raw: unknown): {
  algorithms: AlgorithmSpec[];
  defaultAlgorithm: string;
  rotationSteps: string[];
  keySlots: string[];
  issuerTag: string;
  keyFactTags: string[];
  policyRuleFields: string[];
  retryableStepErrors: string[];
  notRetryableStepErrors: string[];
} {
  const problems: string[] = [];
  const o = (raw ?? {}) as Record<string, unknown>;
  const strings = (key: string, from: Record<string, unknown> = o, at = key): string[] => {
    const v = from[key];
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string' && x !== '')) {
      problems.push(`${at} must be a non-empty list of names`);
      return [];
    }
    if (new Set(v).size !== v.length) problems.push(`${at} lists a name twice`);
    return v as string[];
  };
  const object = (key: string): Record<string, unknown> => {
    const v = o[key];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      problems.push(`${key} must be an object`);
      return {};
    }
    return v as Record<string, unknown>;
  };
  const algorithms: AlgorithmSpec[] = [];
  if (!Array.isArray(o.algorithms) || o.algorithms.length === 0) problems.push('algorithms must be a non-empty list');
  for (const [i, a] of (Array.isArray(o.algorithms) ? o.algorithms : []).entries()) {
    const e = (a ?? {}) as Record<string, unknown>;
    const str = (k: string) => (typeof e[k] === 'string' && e[k] !== '' ? (e[k] as string) : undefined);
    const jose = str('jose');
    const kmsKeySpec = str('kms_key_spec');
    const kmsSigningAlgorithm = str('kms_signing_algorithm');
    if (!jose || !/^[A-Z][A-Z0-9]+$/.test(jose) || !kmsKeySpec || !kmsSigningAlgorithm || typeof e.default_enabled !== 'boolean') {
      problems.push(`algorithms[${i}] needs jose (e.g. RS256), kms_key_spec, kms_signing_algorithm and default_enabled (boolean)`);
      continue;
    }
    algorithms.push({ jose, kmsKeySpec, kmsSigningAlgorithm, defaultEnabled: e.default_enabled });
  }
  const names = algorithms.map((a) => a.jose);
  if (new Set(names).size !== names.length) problems.push('algorithms lists a JOSE name twice');
  const defaultAlgorithm = o.default_algorithm;
  if (typeof defaultAlgorithm !== 'string' || !algorithms.some((a) => a.jose === defaultAlgorithm && a.defaultEnabled)) {
    problems.push(`default_algorithm must name an algorithm with default_enabled true, got ${JSON.stringify(defaultAlgorithm)}`);
  }
  const rotationSteps = strings('rotation_steps');
  const keySlots = strings('key_slots');
  const tags = object('kms_key_tags');
  const issuerTag = tags.issuer;
  if (typeof issuerTag !== 'string' || issuerTag === '') problems.push('kms_key_tags.issuer must be a tag key');
  const keyFactTags = strings('facts', tags, 'kms_key_tags.facts');
  const policyRuleFields = strings('policy_rule_fields');
  const errorTypes = object('rotate_error_types');
  const retryableStepErrors = strings('retryable', errorTypes, 'rotate_error_types.retryable');
  const notRetryableStepErrors = strings('not_retryable', errorTypes, 'rotate_error_types.not_retryable');
  if (retryableStepErrors.some((e) => notRetryableStepErrors.includes(e))) {
    problems.push('rotate_error_types lists an error type as both retryable and not retryable');
  }
  if (problems.length > 0) throw new Error(`${CLOSED_SETS_FILE}: ${problems.join('; ')}`);
  return {
    algorithms, defaultAlgorithm: defaultAlgorithm as string, rotationSteps, keySlots, issuerTag: issuerTag as string, keyFactTags,
    policyRuleFields, retryableStepErrors, notRetryableStepErrors,
  };
}

const CLOSED_SETS = load(closedSetsJson);

/** Every algorithm the issuer can sign with, in the file's order. */
export const ALGORITHM_SPECS: readonly AlgorithmSpec[] = CLOSED_SETS.algorithms;
/** Their JOSE names. */
export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = ALGORITHM_SPECS.map((a) => a.jose);
/** Enabled when the `algorithms` prop is absent (RS256 and ES256). */
export const DEFAULT_ALGORITHMS: readonly SigningAlgorithm[] = ALGORITHM_SPECS.filter((a) => a.defaultEnabled).map((a) => a.jose);
/** `alg` of tokens requested without one, when it is enabled (RS256). */
export const DEFAULT_ALGORITHM: SigningAlgorithm = CLOSED_SETS.defaultAlgorithm;
/** The rotation steps, in the order the workflow runs them. */
export const ROTATION_STEPS: readonly string[] = CLOSED_SETS.rotationSteps;
/** The alias slots of each algorithm (`<prefix>/<alg>/<slot>`). */
export const KEY_SLOTS: readonly string[] = CLOSED_SETS.keySlots;
/**
 * The KMS tag keys the rotate Lambda writes (DESIGN.md §5, §6): the issuer tag that scopes every
 * permission (`iamjwt:issuer`), and the key facts rotation records.
 */
export const ISSUER_TAG: string = CLOSED_SETS.issuerTag;
export const KEY_FACT_TAGS: readonly string[] = CLOSED_SETS.keyFactTags;
/** The fields an audience policy rule may have (the Rust parser refuses any other). */
export const POLICY_RULE_FIELDS: readonly string[] = CLOSED_SETS.policyRuleFields;
/** The rotate Lambda's `errorType`s the workflow retries (with backoff). */
export const RETRYABLE_STEP_ERRORS: readonly string[] = CLOSED_SETS.retryableStepErrors;
/** The rotate Lambda's `errorType`s the workflow must not retry (it catches them: SNS, then Fail). */
export const NOT_RETRYABLE_STEP_ERRORS: readonly string[] = CLOSED_SETS.notRetryableStepErrors;

export function isSigningAlgorithm(name: unknown): name is SigningAlgorithm {
  return typeof name === 'string' && SIGNING_ALGORITHMS.includes(name);
}

/** The spec of an algorithm; throws for a name not in the file (resolveConfig refuses those first). */
export function algorithmSpec(name: SigningAlgorithm): AlgorithmSpec {
  const spec = ALGORITHM_SPECS.find((a) => a.jose === name);
  if (!spec) throw new Error(`unknown signing algorithm '${name}' (${CLOSED_SETS_FILE} has ${SIGNING_ALGORITHMS.join(', ')})`);
  return spec;
}

/** Exposed for tests of the file checks. */
export const loadClosedSets = load;
