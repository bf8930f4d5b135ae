import { ConfigError, parseEnv } from '@classwire/core';
import { MAX_RETENTION_DAYS, RETENTION_ENV } from '@classwire/records';
import { CfnOutput, Duration, RemovalPolicy, type Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import { z } from 'zod';

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
}

export interface RecordsParts {
  cluster: rds.DatabaseCluster;
  proxy: rds.DatabaseProxy;
  recorder: lambda.Function;
  dispatcher: lambda.Function;
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
}

const POSTGRES_PORT = 5432;
/** Both schedules fire every minute; each run stops before its timeout (records-handlers.ts). */
const SCHEDULE_RATE = Duration.minutes(1);
const RUN_TIMEOUT = Duration.seconds(60);

/**
 * Adds the records to the stack: an Aurora Serverless v2 Postgres cluster behind RDS Proxy in the
 * private subnets (credentials generated into Secrets Manager; the proxy and the cluster each admit
 * only the records functions' security group and the proxy's, respectively), the scheduled recorder
 * and webhook dispatcher functions, and the flag that makes publishes mark their rooms (one SADD).
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
  const make = (name: string, handler: string, securityGroups: ec2.ISecurityGroup[]) =>
    new lambda.Function(stack, name, {
      runtime: context.runtime,
      architecture: lambda.Architecture.ARM_64,
      code,
      handler: `records.${handler}`,
      timeout: RUN_TIMEOUT,
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
  for (const fn of [recorder, dispatcher]) secret.grantRead(fn);

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

  new CfnOutput(stack, 'RecordsDatabaseSecretArn', { value: secret.secretArn, description: 'Credentials of the records database' });
  return { cluster, proxy, recorder, dispatcher };
}

/** `records.retentionDays`, checked at synth by the same schema the recorder function parses. */
function checkRetentionDays(days: number): number {
  const parsed = parseEnv(z.object(RETENTION_ENV), { CLASSWIRE_RECORDS_RETENTION_DAYS: String(days) }, () => new ConfigError(`records.retentionDays: ${String(days)} is not a whole number of days from 1 to ${MAX_RETENTION_DAYS}`));
  return parsed.CLASSWIRE_RECORDS_RETENTION_DAYS!;
}
