/**
 * The CDK app, run by the CDK CLI (`npx cdk synth`, `npx cdk deploy` in packages/aws; cdk.json runs this
 * file with tsx). Every synth bundles the handlers first, so a fresh checkout needs no build step. The
 * output directory is the CLI's (`CDK_OUTDIR`, `--output`), never fixed here. Settings come from the
 * environment (docs/aws.md).
 */
import { App } from 'aws-cdk-lib';
import { Runtime, RuntimeFamily } from 'aws-cdk-lib/aws-lambda';
import { bundleLambdaHandlers } from './bundle.js';
import { ClasswireStack, type ClasswireStackProps } from './stack.js';

const env = process.env;
const list = (value: string | undefined) => value?.split(',').map((s) => s.trim()).filter((s) => s.length > 0);

const jwt: ClasswireStackProps['jwt'] =
  env.CLASSWIRE_JWKS_URL !== undefined
    ? { jwksUrl: env.CLASSWIRE_JWKS_URL, issuer: env.CLASSWIRE_JWT_ISSUER, audience: env.CLASSWIRE_JWT_AUDIENCE }
    : env.CLASSWIRE_JWT_SECRET_ARN !== undefined
      ? { secretArn: env.CLASSWIRE_JWT_SECRET_ARN, issuer: env.CLASSWIRE_JWT_ISSUER, audience: env.CLASSWIRE_JWT_AUDIENCE }
      : undefined;

const assetDir = await bundleLambdaHandlers();
const app = new App();
new ClasswireStack(app, env.CLASSWIRE_STACK_NAME ?? 'Classwire', {
  assetDir,
  description: 'Classwire: real-time classroom messaging on API Gateway WebSockets, Lambda and ElastiCache',
  ...(env.CDK_DEFAULT_ACCOUNT !== undefined && env.CDK_DEFAULT_REGION !== undefined
    ? { env: { account: env.CDK_DEFAULT_ACCOUNT, region: env.CDK_DEFAULT_REGION } }
    : {}),
  ...(env.CLASSWIRE_STAGE === undefined ? {} : { stageName: env.CLASSWIRE_STAGE }),
  ...(jwt === undefined ? {} : { jwt }),
  ...(env.CLASSWIRE_REDIS_NODE_TYPE === undefined ? {} : { redisNodeType: env.CLASSWIRE_REDIS_NODE_TYPE }),
  ...(env.CLASSWIRE_NAT_GATEWAYS === undefined ? {} : { natGateways: Number(env.CLASSWIRE_NAT_GATEWAYS) }),
  ...(env.CLASSWIRE_ALLOWED_ORIGINS === undefined ? {} : { allowedOrigins: list(env.CLASSWIRE_ALLOWED_ORIGINS)! }),
  ...(env.CLASSWIRE_COALESCE_MS === undefined ? {} : { coalesceMs: Number(env.CLASSWIRE_COALESCE_MS) }),
  ...(env.CLASSWIRE_ALARM_EMAIL === undefined ? {} : { alarmEmail: env.CLASSWIRE_ALARM_EMAIL }),
  ...(env.CLASSWIRE_TRACING === '1' ? { tracing: true } : {}),
  ...(env.CLASSWIRE_ACCESS_LOGS === '1' ? { accessLogs: true } : {}),
  ...(env.CLASSWIRE_RECORDS === '1'
    ? {
        records: {
          minCapacity: Number(env.CLASSWIRE_RECORDS_MIN_ACU ?? '0.5'),
          maxCapacity: Number(env.CLASSWIRE_RECORDS_MAX_ACU ?? '4'),
          ...(env.CLASSWIRE_RECORDS_RETENTION_DAYS === undefined ? {} : { retentionDays: Number(env.CLASSWIRE_RECORDS_RETENTION_DAYS) }),
        },
      }
    : {}),
  ...(env.CLASSWIRE_LAMBDA_RUNTIME === undefined ? {} : { runtime: new Runtime(env.CLASSWIRE_LAMBDA_RUNTIME, RuntimeFamily.NODEJS) }),
});
app.synth();
