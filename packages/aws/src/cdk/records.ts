import { ConfigError, parseEnv } from '@classwire/core';
import { MAX_RETENTION_DAYS, RECORDS_PROXY_INIT_QUERY, RETENTION_ENV } from '@classwire/records';
import { CfnOutput, Duration, RemovalPolicy, type Stack } from 'aws-cdk-lib';
import { HttpApi, HttpMethod, HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { z } from 'zod';
import { BACKEND_ROUTE_PATH, RECORDS_METHODS, STAFF_ROUTE_PATH } from '../records-routes.js';

/** The optional records database of the stack (docs/aws.md, "Records on AWS"). */
export interface RecordsProps {
  /** Aurora Serverless v2 capacity in ACUs (0.5 steps). @default 0.5 */
  minCapacity?: number;
  /** @default 4 */
  maxCapacity?: number;
  /**
   * `CLASSWIRE_WEBHOOK_*` variables of the dispatcher and recorder functions (docs/records.md). The
   * endpoint secrets then sit in the functions' configuration: a Secrets Manager reference is not built yet.
   */
  webhookEnvironment?: Record<string, string>;
  /**
   * Records older than this many days are deleted (`CLASSWIRE_RECORDS_RETENTION_DAYS` of the recorder
   * function, applied at most once an hour); whole days, 1 to 36,500. @default kept
   */
  retentionDays?: number;
  /** What happens to the cluster when the stack is deleted. @default SNAPSHOT */
  removalPolicy?: RemovalPolicy;
  /** Stage throttling of the records HTTP API across all callers. @default 100/s, burst 200 */
  apiThrottle?: { rateLimit: number; burstLimit: number };
}

export interface RecordsParts {
  cluster: rds.DatabaseCluster;
  proxy: rds.DatabaseProxy;
  recorder: lambda.Function;
  dispatcher: lambda.Function;
  /** The records HTTP API's function (`records.api`) and its API. */
  api: lambda.Function;
  httpApi: HttpApi;
  httpStage: HttpStage;
}

export interface RecordsContext {
  vpc: ec2.IVpc;
  /** The security group Redis admits: the recorder reads room logs. */
  redisClientGroup: ec2.ISecurityGroup;
  redisUrl: string;
  assetDir: string;
  runtime: lambda.Runtime;
  retention: logs.RetentionDays;
  tracing: boolean;
  /** The functions that run the engine: their publishes mark rooms for the recorder. */
  engineFunctions: lambda.Function[];
  /** The engine functions that answer `history` (`$default`), and the security group they alone are in: they read older history from the records. */
  history: { functions: lambda.Function[]; group: ec2.ISecurityGroup };
  /** `CLASSWIRE_JWT_*` / `CLASSWIRE_JWKS_URL`, as the WebSocket authorizer gets them: the records API verifies staff tokens the same way. */
  jwtEnvironment: Record<string, string>;
  /** The secret holding the HS256 key, when tokens are verified with one (the API function reads it). */
  jwtSecret: secretsmanager.ISecret | undefined;
}

const POSTGRES_PORT = 5432;
/** Both schedules fire every minute; each run stops before its timeout (records-handlers.ts). */
const SCHEDULE_RATE = Duration.minutes(1);
const RUN_TIMEOUT = Duration.seconds(60);
/** An HTTP API waits at most 30 s for its integration; the records API answers far sooner. */
const API_TIMEOUT = Duration.seconds(29);
const DEFAULT_API_THROTTLE = { rateLimit: 100, burstLimit: 200 };
const MAX_API_RATE = 10_000;
const MAX_API_BURST = 5_000;

/**
 * Adds the records to the stack: an Aurora Serverless v2 Postgres cluster behind RDS Proxy in the
 * private subnets (credentials generated into Secrets Manager; the proxy and the cluster each admit
 * only the records functions' security group and the proxy's, respectively), the scheduled recorder
 * and webhook dispatcher functions, the flag that makes publishes mark their rooms (one SADD), and
 * the records HTTP API (an API Gateway HTTP API on the `records.api` function; see records-routes.ts
 * for its two route sets).
 */
export function addRecords(stack: Stack, context: RecordsContext, props: RecordsProps): RecordsParts {
  const { vpc } = context;
  const retentionDays = props.retentionDays === undefined ? undefined : checkRetentionDays(props.retentionDays);
  const privateSubnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
  const functionsGroup = new ec2.SecurityGroup(stack, 'RecordsFunctionsSecurityGroup', { vpc, description: 'Classwire records functions', allowAllOutbound: true });
  const proxyGroup = new ec2.SecurityGroup(stack, 'RecordsProxySecurityGroup', { vpc, description: 'Classwire records proxy: reachable from the records functions only', allowAllOutbound: false });
  const databaseGroup = new ec2.SecurityGroup(stack, 'RecordsDatabaseSecurityGroup', { vpc, description: 'Classwire records database: reachable from its proxy only', allowAllOutbound: false });
  proxyGroup.addIngressRule(functionsGroup, ec2.Port.tcp(POSTGRES_PORT), 'Postgres from the Classwire records functions');
  // The proxy's way to the cluster (cluster ingress from the proxy's group) is added by `addProxy`.

  const cluster = new rds.DatabaseCluster(stack, 'RecordsDatabase', {
    engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_17_5 }),
    credentials: rds.Credentials.fromGeneratedSecret('classwire'),
    defaultDatabaseName: 'classwire',
    writer: rds.ClusterInstance.serverlessV2('Writer'),
    serverlessV2MinCapacity: props.minCapacity ?? 0.5,
    serverlessV2MaxCapacity: props.maxCapacity ?? 4,
    vpc,
    vpcSubnets: privateSubnets,
    securityGroups: [databaseGroup],
    storageEncrypted: true,
    backup: { retention: Duration.days(7) },
    removalPolicy: props.removalPolicy ?? RemovalPolicy.SNAPSHOT,
  });
  const secret = cluster.secret!;
  const proxy = cluster.addProxy('RecordsProxy', {
    secrets: [secret],
    vpc,
    vpcSubnets: privateSubnets,
    securityGroups: [proxyGroup],
    requireTLS: true,
    // The records' statement and idle-transaction bounds, on every database connection the proxy opens:
    // the functions cannot send them at connection start (the proxy refuses startup settings).
    initQuery: RECORDS_PROXY_INIT_QUERY,
  });

  const code = lambda.Code.fromAsset(context.assetDir);
  const environment = {
    NODE_OPTIONS: '--enable-source-maps',
    LOG_LEVEL: 'info',
    CLASSWIRE_REDIS_URL: context.redisUrl,
    CLASSWIRE_DATABASE_SECRET_ARN: secret.secretArn,
    CLASSWIRE_DATABASE_HOST: proxy.endpoint,
    ...props.webhookEnvironment,
  };
  const make = (name: string, handler: string, securityGroups: ec2.ISecurityGroup[], timeout: Duration = RUN_TIMEOUT) =>
    new lambda.Function(stack, name, {
      runtime: context.runtime,
      architecture: lambda.Architecture.ARM_64,
      code,
      handler: `records.${handler}`,
      timeout,
      memorySize: 512,
      logGroup: new logs.LogGroup(stack, `${name}Logs`, { retention: context.retention, removalPolicy: RemovalPolicy.DESTROY }),
      environment,
      vpc,
      vpcSubnets: privateSubnets,
      securityGroups,
      ...(context.tracing ? { tracing: lambda.Tracing.ACTIVE } : {}),
    });
  // The recorder reads room logs from Redis; the dispatcher needs only the database and the internet (NAT).
  const recorder = make('Recorder', 'record', [functionsGroup, context.redisClientGroup]);
  const dispatcher = make('Dispatcher', 'dispatch', [functionsGroup]);
  if (retentionDays !== undefined) recorder.addEnvironment('CLASSWIRE_RECORDS_RETENTION_DAYS', String(retentionDays));
  // The API reads the records (database) and presence and the live log (Redis, as the engine functions do).
  const api = make('RecordsApi', 'api', [functionsGroup, context.redisClientGroup], API_TIMEOUT);
  for (const [name, value] of Object.entries(context.jwtEnvironment)) api.addEnvironment(name, value);
  context.jwtSecret?.grantRead(api);
  for (const fn of [recorder, dispatcher, api]) secret.grantRead(fn);

  // One function, the same routes twice: under /backend API Gateway verifies a SigV4 signature against
  // IAM before invoking (the function trusts the caller it reports there only); at the root it checks
  // nothing and the function requires a staff JWT.
  const httpApi = new HttpApi(stack, 'RecordsHttpApi', {
    apiName: `${stack.stackName}-classwire-records`,
    description: 'Classwire class records: attendance, transcripts, presence, history, dead letters',
    createDefaultStage: false,
  });
  const httpStage = new HttpStage(stack, 'RecordsHttpStage', { httpApi, autoDeploy: true, throttle: checkApiThrottle(props.apiThrottle ?? DEFAULT_API_THROTTLE) });
  const integration = new HttpLambdaIntegration('RecordsApiIntegration', api);
  const methods = RECORDS_METHODS.map((method) => HttpMethod[method]);
  httpApi.addRoutes({ path: BACKEND_ROUTE_PATH, methods, integration, authorizer: new HttpIamAuthorizer() });
  httpApi.addRoutes({ path: STAFF_ROUTE_PATH, methods, integration });

  new events.Rule(stack, 'RecordSchedule', {
    description: 'Classwire: record the rooms with new messages',
    schedule: events.Schedule.rate(SCHEDULE_RATE),
    targets: [new targets.LambdaFunction(recorder)],
  });
  new events.Rule(stack, 'DispatchSchedule', {
    description: 'Classwire: deliver due webhooks',
    schedule: events.Schedule.rate(SCHEDULE_RATE),
    targets: [new targets.LambdaFunction(dispatcher)],
  });
  for (const fn of context.engineFunctions) fn.addEnvironment('CLASSWIRE_RECORD_ROOMS', 'true');
  // `history` beyond the live log reads the records (docs/aws.md): the database variables, its secret, the proxy.
  proxyGroup.addIngressRule(context.history.group, ec2.Port.tcp(POSTGRES_PORT), 'Postgres from the Classwire $default function (history)');
  for (const fn of context.history.functions) {
    fn.addEnvironment('CLASSWIRE_DATABASE_SECRET_ARN', secret.secretArn);
    fn.addEnvironment('CLASSWIRE_DATABASE_HOST', proxy.endpoint);
    secret.grantRead(fn);
  }

  new CfnOutput(stack, 'RecordsDatabaseSecretArn', { value: secret.secretArn, description: 'Credentials of the records database' });
  new CfnOutput(stack, 'RecordsApiUrl', { value: httpStage.url, description: 'The records HTTP API: backends sign requests to /backend/… with SigV4 (execute-api); staff send a JWT to /…' });
  return { cluster, proxy, recorder, dispatcher, api, httpApi, httpStage };
}

/**
 * `records.apiThrottle`, checked at synth: whole requests, at least 1, and at most API Gateway's default
 * account quota (10,000/s, burst 5,000); a typo must not open the database to an unthrottled flood.
 */
function checkApiThrottle(throttle: { rateLimit: number; burstLimit: number }): { rateLimit: number; burstLimit: number } {
  const { rateLimit, burstLimit } = throttle;
  if (!Number.isInteger(rateLimit) || rateLimit < 1 || rateLimit > MAX_API_RATE || !Number.isInteger(burstLimit) || burstLimit < 1 || burstLimit > MAX_API_BURST) {
    throw new ConfigError(`records.apiThrottle: rateLimit ${String(rateLimit)} and burstLimit ${String(burstLimit)} must be whole numbers from 1 to ${MAX_API_RATE} and ${MAX_API_BURST}`);
  }
  return { rateLimit, burstLimit };
}

/** `records.retentionDays`, checked at synth by the same schema the recorder function parses. */
function checkRetentionDays(days: number): number {
  const parsed = parseEnv(z.object(RETENTION_ENV), { CLASSWIRE_RECORDS_RETENTION_DAYS: String(days) }, () => new ConfigError(`records.retentionDays: ${String(days)} is not a whole number of days from 1 to ${MAX_RETENTION_DAYS}`));
  return parsed.CLASSWIRE_RECORDS_RETENTION_DAYS!;
}
