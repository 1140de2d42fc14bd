export * from './iamjwt-issuer';
export * from './iamjwt-stack';
export * from './props';
export * from './audience-policy';
export * from './asl';
export * from './app-config';
