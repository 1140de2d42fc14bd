/**
 * The public API of the iamjwt-cdk package (jsii: TypeScript, Python): the issuer construct, its props and enums,
 * and a ready stack. Everything exported here must be jsii-compatible and documented (`make package` refuses an
 * undocumented member); the other modules of lib/ are internals of the construct and of the repository's own app.
 */
export { IamJwtIssuer } from './iamjwt-issuer';
export { IamJwtStack } from './iamjwt-stack';
export type { IamJwtStackProps } from './iamjwt-stack';
export { WafUsage } from './props';
export type { IamJwtIssuerProps, ResolvedConfig, ResolvedCustomDomain, ResolvedWaf } from './props';
export type { LambdaZips } from './lambda-code';
export type { IamJwtIssuerAlarms, IamJwtTokenAlarms } from './monitoring';
export type { IamJwtRegion } from './region-stack';
