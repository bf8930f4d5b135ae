import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { addRecords, type RecordsParts, type RecordsProps } from './records.js';

export interface ClasswireStackProps extends StackProps {
  /** Directory of the pre-built Lambda bundle (`scripts/bundle.js`): `index.mjs` and `lua/`. */
  assetDir: string;
  /** @default 'prod' */
  stageName?: string;
  /**
   * How tokens are verified. A JWKS URL (asymmetric keys; nothing secret in AWS), an existing Secrets
   * Manager secret holding the HS256 secret, or by default a new generated secret your backend reads.
   */
  jwt?: { jwksUrl: string; issuer?: string; audience?: string } | { secretArn: string; issuer?: string; audience?: string };
  /** @default 'cache.t4g.small' */
  redisNodeType?: string;
  /** NAT gateways: 1 is cheaper, 2 keeps egress to @connections working when one zone fails. @default 1 */
  natGateways?: number;
  /** @default one month */
  logRetention?: logs.RetentionDays;
  /** Stage throttling of inbound messages across all clients. @default 1,000/s, burst 500 */
  throttle?: { rateLimit: number; burstLimit: number };
  /** Browser origins allowed to connect (CLASSWIRE_ALLOWED_ORIGINS). @default any */
  allowedOrigins?: string[];
  /** Coalescing window of room messages, ms (CLASSWIRE_COALESCE_MS; 0: a post per member per message). @default 50 */
  coalesceMs?: number;
  /** An address that receives the alarms (through an SNS topic). */
  alarmEmail?: string;
  /**
   * The Lambda runtime: a supported Node LTS (`nodejs20.x` reached its end of life, and Lambda refuses new
   * functions on it from 2027-02-01). The bundle is built for the same Node line. @default nodejs24.x
   */
  runtime?: lambda.Runtime;
  /** Active X-Ray tracing of every function. @default false */
  tracing?: boolean;
  /**
   * API Gateway access logs (one JSON line per connect, message and disconnect) in a log group. API
   * Gateway writes them only once the account has a CloudWatch Logs role (docs/aws.md). @default false
   */
  accessLogs?: boolean;
  /** Class records and webhooks: an Aurora Serverless v2 database and two scheduled functions (cdk/records.ts). @default none */
  records?: RecordsProps;
}

/** Lambda's maximum for an API Gateway integration is 29 s; the handlers finish far sooner. */
const INTEGRATION_TIMEOUT = Duration.seconds(29);
const REDIS_PORT = 6379;
/** The replication group's two cache clusters (`<group>-001`, `<group>-002`); either may be the primary. */
const REDIS_NODES = ['001', '002'] as const;
/** One access log line: what an operator needs to follow a connection ($context variables of WebSocket APIs). */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTimeEpoch',
  eventType: '$context.eventType',
  routeKey: '$context.routeKey',
  connectionId: '$context.connectionId',
  sourceIp: '$context.identity.sourceIp',
  status: '$context.status',
  integrationLatency: '$context.integrationLatency',
  error: '$context.error.message',
  authorizerError: '$context.authorizer.error',
};

/**
 * Classwire on AWS: an API Gateway WebSocket API whose `$connect` (with a REQUEST authorizer),
 * `$disconnect` and `$default` routes run the Lambda handlers, ElastiCache Redis (primary and replica in
 * two zones) for every state, the VPC and NAT the handlers need, a scheduled sweeper, logs, a dashboard
 * and alarms. Synthesizes offline: the code is a pre-built asset, and nothing is looked up.
 */
export class ClasswireStack extends Stack {
  readonly api: WebSocketApi;
  readonly stage: WebSocketStage;
  readonly functions: Record<'authorizer' | 'connect' | 'disconnect' | 'message' | 'sweep', lambda.Function>;
  readonly redis: elasticache.CfnReplicationGroup;
  readonly records: RecordsParts | undefined;

  constructor(scope: Construct, id: string, props: ClasswireStackProps) {
    super(scope, id, props);
    const stageName = props.stageName ?? 'prod';
    const retention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;

    // Private subnets reach the public @connections endpoint through NAT; Redis is in the same subnets.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: props.natGateways ?? 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
    });
    const handlerSecurityGroup = new ec2.SecurityGroup(this, 'HandlerSecurityGroup', {
      vpc,
      description: 'Classwire Lambda handlers',
      allowAllOutbound: true,
    });
    const redisSecurityGroup = new ec2.SecurityGroup(this, 'RedisSecurityGroup', {
      vpc,
      description: 'Classwire Redis: reachable from the handlers only',
      allowAllOutbound: false,
    });
    redisSecurityGroup.addIngressRule(handlerSecurityGroup, ec2.Port.tcp(REDIS_PORT), 'Redis from the Classwire handlers');
    // With records, `$default` pages history from them: its own group, the only engine function the records proxy admits.
    const historySecurityGroup =
      props.records === undefined ? undefined : new ec2.SecurityGroup(this, 'HistorySecurityGroup', { vpc, description: 'Classwire $default: history from the records', allowAllOutbound: true });

    const subnetGroup = new elasticache.CfnSubnetGroup(this, 'RedisSubnets', {
      description: 'Classwire Redis',
      subnetIds: vpc.privateSubnets.map((subnet) => subnet.subnetId),
    });
    const replicationGroupId = `${this.stackName}-redis`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40);
    this.redis = new elasticache.CfnReplicationGroup(this, 'Redis', {
      replicationGroupId,
      replicationGroupDescription: 'Classwire rooms, registry and presence',
      engine: 'redis',
      engineVersion: '7.1',
      cacheNodeType: props.redisNodeType ?? 'cache.t4g.small',
      // A primary and one replica, in two zones; ElastiCache promotes the replica if the primary fails.
      numCacheClusters: 2,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      transitEncryptionEnabled: true,
      transitEncryptionMode: 'required',
      atRestEncryptionEnabled: true,
      port: REDIS_PORT,
      cacheSubnetGroupName: subnetGroup.ref,
      securityGroupIds: [redisSecurityGroup.securityGroupId],
      snapshotRetentionLimit: 1,
    });
    this.redis.addResourceDependency(subnetGroup);
    // TLS (in-transit encryption): ioredis uses TLS for rediss:// and checks the certificate's host name.
    const redisUrl = `rediss://${this.redis.attrPrimaryEndPointAddress}:${this.redis.attrPrimaryEndPointPort}`;

    const jwtEnvironment: Record<string, string> = {};
    let generatedSecret: secretsmanager.Secret | undefined;
    let importedSecret: secretsmanager.ISecret | undefined;
    if (props.jwt !== undefined && 'jwksUrl' in props.jwt) {
      jwtEnvironment.CLASSWIRE_JWKS_URL = props.jwt.jwksUrl;
    } else if (props.jwt !== undefined) {
      jwtEnvironment.CLASSWIRE_JWT_SECRET_ARN = props.jwt.secretArn;
    } else {
      generatedSecret = new secretsmanager.Secret(this, 'JwtSecret', {
        description: 'Classwire HS256 token secret: your backend signs tokens with it',
        generateSecretString: { passwordLength: 64, excludePunctuation: true },
      });
      jwtEnvironment.CLASSWIRE_JWT_SECRET_ARN = generatedSecret.secretArn;
    }
    if (props.jwt?.issuer !== undefined) jwtEnvironment.CLASSWIRE_JWT_ISSUER = props.jwt.issuer;
    if (props.jwt?.audience !== undefined) jwtEnvironment.CLASSWIRE_JWT_AUDIENCE = props.jwt.audience;

    const code = lambda.Code.fromAsset(props.assetDir);
    const make = (name: string, handler: string, options: { inVpc: boolean; timeout: Duration; memorySize: number; environment: Record<string, string>; extraGroups?: ec2.ISecurityGroup[] }) => {
      const logGroup = new logs.LogGroup(this, `${name}Logs`, { retention, removalPolicy: RemovalPolicy.DESTROY });
      return new lambda.Function(this, name, {
        runtime: props.runtime ?? lambda.Runtime.NODEJS_24_X,
        architecture: lambda.Architecture.ARM_64,
        code,
        handler: `index.${handler}`,
        timeout: options.timeout,
        memorySize: options.memorySize,
        logGroup,
        environment: { NODE_OPTIONS: '--enable-source-maps', LOG_LEVEL: 'info', ...options.environment },
        ...(props.tracing === true ? { tracing: lambda.Tracing.ACTIVE } : {}),
        ...(options.inVpc
          ? { vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }, securityGroups: [handlerSecurityGroup, ...(options.extraGroups ?? [])] }
          : {}),
      });
    };
    // The authorizer needs no Redis: outside the VPC it starts faster and reaches JWKS or Secrets Manager directly.
    const authorizer = make('Authorizer', 'authorizer', { inVpc: false, timeout: Duration.seconds(10), memorySize: 256, environment: jwtEnvironment });
    generatedSecret?.grantRead(authorizer);
    if (props.jwt !== undefined && 'secretArn' in props.jwt) {
      importedSecret = secretsmanager.Secret.fromSecretCompleteArn(this, 'ImportedJwtSecret', props.jwt.secretArn);
      importedSecret.grantRead(authorizer);
    }

    this.api = new WebSocketApi(this, 'Api', {
      apiName: `${this.stackName}-classwire`,
      description: 'Classwire real-time classroom messaging',
      routeSelectionExpression: '$request.body.action',
    });
    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName,
      autoDeploy: true,
      throttle: props.throttle ?? { rateLimit: 1000, burstLimit: 500 },
      ...(props.accessLogs === true
        ? {
            accessLogSettings: {
              destination: new LogGroupLogDestination(new logs.LogGroup(this, 'AccessLogs', { retention, removalPolicy: RemovalPolicy.DESTROY })),
              format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
            },
          }
        : {}),
    });
    const handlerEnvironment: Record<string, string> = {
      CLASSWIRE_REDIS_URL: redisUrl,
      // The fan-out metrics' `Node` dimension (and the registry's node name): the stack's own, so two
      // stacks in one account and region never add up in each other's alarms.
      CLASSWIRE_NODE_ID: this.stackName,
      WS_CALLBACK_URL: this.stage.callbackUrl,
      ...(props.allowedOrigins === undefined ? {} : { CLASSWIRE_ALLOWED_ORIGINS: props.allowedOrigins.join(',') }),
      ...(props.coalesceMs === undefined ? {} : { CLASSWIRE_COALESCE_MS: String(props.coalesceMs) }),
    };
    const handlerOptions = { inVpc: true, timeout: INTEGRATION_TIMEOUT, memorySize: 512, environment: handlerEnvironment };
    const connect = make('Connect', 'connect', handlerOptions);
    const disconnect = make('Disconnect', 'disconnect', handlerOptions);
    const message = make('Default', 'message', { ...handlerOptions, extraGroups: historySecurityGroup === undefined ? [] : [historySecurityGroup] });
    const sweep = make('Sweep', 'sweep', { ...handlerOptions, timeout: Duration.minutes(4) });
    this.functions = { authorizer, connect, disconnect, message, sweep };

    this.api.addRoute('$connect', {
      integration: new WebSocketLambdaIntegration('ConnectIntegration', connect),
      // Browsers cannot set headers on a WebSocket: the token travels in the query string.
      authorizer: new WebSocketLambdaAuthorizer('Authorizer', authorizer, { identitySource: ['route.request.querystring.token'] }),
    });
    this.api.addRoute('$disconnect', { integration: new WebSocketLambdaIntegration('DisconnectIntegration', disconnect) });
    this.api.addRoute('$default', { integration: new WebSocketLambdaIntegration('DefaultIntegration', message) });
    // execute-api:ManageConnections on this API's stage only, for the functions that post.
    for (const fn of [connect, disconnect, message, sweep]) this.stage.grantManagementApiAccess(fn);

    // `$disconnect` is best effort: every 5 minutes, connections past the 2-hour maximum are removed.
    new events.Rule(this, 'SweepSchedule', {
      description: 'Classwire: remove connections that outlived API Gateway\'s 2-hour maximum',
      schedule: events.Schedule.rate(Duration.minutes(5)),
      targets: [new targets.LambdaFunction(sweep)],
    });

    this.records =
      props.records === undefined
        ? undefined
        : addRecords(this, { vpc, redisClientGroup: handlerSecurityGroup, redisUrl, assetDir: props.assetDir, runtime: props.runtime ?? lambda.Runtime.NODEJS_24_X, retention, tracing: props.tracing === true, engineFunctions: [connect, disconnect, message, sweep], history: { functions: [message], group: historySecurityGroup! }, jwtEnvironment, jwtSecret: generatedSecret ?? importedSecret }, props.records);

    this.observe(replicationGroupId, props.alarmEmail);

    new CfnOutput(this, 'WebSocketUrl', { value: this.stage.url, description: 'Clients connect here: wss://…/stage?token=<JWT>' });
    new CfnOutput(this, 'CallbackUrl', { value: this.stage.callbackUrl, description: '@connections endpoint' });
    if (generatedSecret !== undefined) new CfnOutput(this, 'JwtSecretArn', { value: generatedSecret.secretArn, description: 'Your backend signs tokens with this secret' });
  }

  /** The dashboard (connections, messages, errors, latency, Redis health) and the alarms. */
  private observe(replicationGroupId: string, alarmEmail: string | undefined): void {
    const apiDimensions = { ApiId: this.api.apiId, Stage: this.stage.stageName };
    const api = (metricName: string, statistic = 'Sum', period = Duration.minutes(1)) =>
      new cloudwatch.Metric({ namespace: 'AWS/ApiGateway', metricName, dimensionsMap: apiDimensions, statistic, period });
    const redis = (metricName: string, node: (typeof REDIS_NODES)[number], statistic = 'Average', period = Duration.minutes(1)) =>
      new cloudwatch.Metric({
        namespace: 'AWS/ElastiCache',
        metricName,
        dimensionsMap: { CacheClusterId: `${replicationGroupId}-${node}` },
        statistic,
        period,
        label: `${metricName} ${node}`,
      });
    // After a failover the primary is the other node: an alarm on one fixed node would watch a replica. So
    // each Redis alarm watches every node, through the worst (or summed) value of all of them.
    const everyRedisNode = (metricName: string, how: 'MAX' | 'SUM', statistic: string) => {
      const period = Duration.minutes(5);
      const usingMetrics = Object.fromEntries(REDIS_NODES.map((node) => [`n${node}`, redis(metricName, node, statistic, period)]));
      const ids = Object.keys(usingMetrics).join(', ');
      return new cloudwatch.MathExpression({ expression: how === 'MAX' ? `MAX([${ids}])` : `SUM([${ids}])`, usingMetrics, period, label: `${metricName} (${how.toLowerCase()} of all nodes)` });
    };
    const classwire = (metricName: string) =>
      new cloudwatch.Metric({ namespace: 'Classwire', metricName, dimensionsMap: { Node: this.stackName }, statistic: 'Sum', period: Duration.minutes(1) });
    const { connect, disconnect, message, authorizer, sweep } = this.functions;
    const handlers = [authorizer, connect, message, disconnect, sweep];
    const allRedisNodes = (metricName: string, statistic = 'Average') => REDIS_NODES.map((node) => redis(metricName, node, statistic));

    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: `${this.stackName}-classwire` });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Connections', left: [api('ConnectCount')], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Messages', left: [api('MessageCount'), classwire('Posts'), classwire('BilledMessageUnits')], width: 8 }),
      new cloudwatch.GraphWidget({
        title: 'Errors',
        left: [api('ClientError'), api('ExecutionError'), api('IntegrationError'), classwire('GonePosts'), classwire('FailedPosts')],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Integration latency (p50, p99)', left: [api('IntegrationLatency', 'p50'), api('IntegrationLatency', 'p99')], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Lambda duration p99', left: handlers.map((fn) => fn.metricDuration({ statistic: 'p99' })), width: 8 }),
      new cloudwatch.GraphWidget({
        title: 'Lambda errors and throttles',
        left: handlers.map((fn) => fn.metricErrors()),
        right: handlers.map((fn) => fn.metricThrottles()),
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Redis engine CPU %', left: allRedisNodes('EngineCPUUtilization'), width: 6 }),
      new cloudwatch.GraphWidget({ title: 'Redis memory % and evictions', left: allRedisNodes('DatabaseMemoryUsagePercentage'), right: allRedisNodes('Evictions', 'Sum'), width: 6 }),
      new cloudwatch.GraphWidget({
        title: 'Redis connections and replication lag',
        left: allRedisNodes('CurrConnections'),
        right: allRedisNodes('ReplicationLag', 'Maximum'),
        width: 6,
      }),
      new cloudwatch.GraphWidget({ title: 'Redis primary (1) per node', left: allRedisNodes('IsMaster', 'Maximum'), width: 6 }),
    );

    const alarm = (id: string, description: string, metric: cloudwatch.IMetric, threshold: number, evaluationPeriods: number, missingIsFine = true) =>
      new cloudwatch.Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods,
        ...(missingIsFine ? { treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING } : {}),
      });
    const alarms = [
      alarm(
        'HandlerErrorsAlarm',
        'Classwire handlers are failing',
        new cloudwatch.MathExpression({
          expression: handlers.map((_, i) => `e${i}`).join(' + '),
          usingMetrics: Object.fromEntries(handlers.map((fn, i) => [`e${i}`, fn.metricErrors({ period: Duration.minutes(5) })])),
          period: Duration.minutes(5),
        }),
        5,
        1,
      ),
      // One throttle alarm per function: a throttled authorizer refuses connections, a throttled $default
      // drops messages, a throttled sweeper leaves stale connections; each needs its own reserved concurrency.
      ...handlers.map((fn) =>
        alarm(`${fn.node.id}ThrottlesAlarm`, `Lambda throttled the ${fn.node.id} function (concurrency limit)`, fn.metricThrottles({ period: Duration.minutes(5) }), 1, 1),
      ),
      alarm('ClientErrorsAlarm', 'Many requests refused before the handlers (4xx: authorizer refusals, throttling, bad routes)', api('ClientError', 'Sum', Duration.minutes(5)), 500, 2),
      alarm('ExecutionErrorsAlarm', 'API Gateway failed to call a Classwire integration (5xx)', api('ExecutionError', 'Sum', Duration.minutes(5)), 10, 1),
      alarm('IntegrationErrorsAlarm', 'A Classwire integration returned an error (5xx)', api('IntegrationError', 'Sum', Duration.minutes(5)), 10, 1),
      alarm('IntegrationLatencyAlarm', 'Handler latency p99 above 1 s for 15 minutes', api('IntegrationLatency', 'p99', Duration.minutes(5)), 1000, 3),
      alarm('FailedPostsAlarm', 'PostToConnection calls fail (throttling, NAT or IAM trouble)', classwire('FailedPosts').with({ period: Duration.minutes(5) }), 100, 1),
      alarm('RedisCpuAlarm', 'Redis engine CPU above 80% for 15 minutes on a node (the primary after any failover)', everyRedisNode('EngineCPUUtilization', 'MAX', 'Average'), 80, 3, false),
      alarm('RedisMemoryAlarm', 'Redis memory above 80% on a node', everyRedisNode('DatabaseMemoryUsagePercentage', 'MAX', 'Average'), 80, 2, false),
      alarm('RedisEvictionsAlarm', 'Redis evicted keys: room history and state are being lost (maxmemory reached)', everyRedisNode('Evictions', 'SUM', 'Sum'), 0, 1),
      alarm('RedisReplicationLagAlarm', 'The Redis replica lags: a failover now would lose more writes', everyRedisNode('ReplicationLag', 'MAX', 'Maximum'), 5, 2),
      ...(this.records === undefined ? [] : this.observeRecords(this.records, dashboard)),
    ];
    if (alarmEmail !== undefined) {
      const topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'Classwire alarms' });
      topic.addSubscription(new subscriptions.EmailSubscription(alarmEmail));
      for (const alarm of alarms) alarm.addAlarmAction(new SnsAction(topic));
    }
  }

  /**
   * The records row of the dashboard and the records alarms (docs/aws.md, "Records alarms"): the
   * functions' errors, a recorder that stopped running, rooms that keep failing or falling behind,
   * dead-lettered webhooks and the records HTTP API's 5xx. The recorder and the dispatcher report their
   * runs in EMF lines (records-handlers.ts), dimension `Function` = the function's name.
   */
  private observeRecords(records: RecordsParts, dashboard: cloudwatch.Dashboard): cloudwatch.Alarm[] {
    const { recorder, dispatcher, api: apiFunction, httpApi, httpStage } = records;
    const fiveMinutes = Duration.minutes(5);
    const run = (fn: lambda.Function, metricName: string, period = fiveMinutes) =>
      new cloudwatch.Metric({ namespace: 'Classwire', metricName, dimensionsMap: { Function: fn.functionName }, statistic: 'Sum', period });
    const httpMetric = (metricName: string, statistic = 'Sum', period = fiveMinutes) =>
      new cloudwatch.Metric({ namespace: 'AWS/ApiGateway', metricName, dimensionsMap: { ApiId: httpApi.apiId, Stage: httpStage.stageName }, statistic, period });

    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Records runs (recorder, dispatcher) and errors',
        left: [recorder.metricInvocations({ label: 'Recorder runs' }), dispatcher.metricInvocations({ label: 'Dispatcher runs' })],
        right: [recorder.metricErrors({ label: 'Recorder errors' }), dispatcher.metricErrors({ label: 'Dispatcher errors' }), apiFunction.metricErrors({ label: 'Records API errors' })],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Rooms recorded, failed, deferred',
        left: [run(recorder, 'RoomsRecorded')],
        right: [run(recorder, 'RoomsFailed'), run(recorder, 'RoomsDeferred'), run(recorder, 'RetentionFailed')],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Webhooks delivered, failed attempts, dead-lettered',
        left: [run(dispatcher, 'WebhooksDelivered')],
        right: [run(dispatcher, 'WebhookAttemptsFailed'), run(dispatcher, 'WebhooksDeadLettered')],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Records API: 4xx, 5xx and latency p50/p99',
        left: [httpMetric('Count'), httpMetric('4xx'), httpMetric('5xx')],
        right: [httpMetric('Latency', 'p50'), httpMetric('Latency', 'p99')],
        width: 6,
      }),
    );

    // Each record alarm says why it matters and what to look at first; docs/aws.md has the longer answer.
    const alarm = (id: string, description: string, metric: cloudwatch.IMetric, threshold: number, evaluationPeriods: number, options: Partial<cloudwatch.AlarmProps> = {}) =>
      new cloudwatch.Alarm(this, id, { alarmDescription: description, metric, threshold, evaluationPeriods, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, ...options });
    return [
      // Three of the five runs in 5 minutes: one failed run (a database failover) is retried a minute later by itself.
      alarm('RecorderErrorsAlarm', 'The records recorder function fails (database, secret or Redis): rooms are not being recorded. See its log group.', recorder.metricErrors({ period: fiveMinutes }), 3, 1),
      alarm('DispatcherErrorsAlarm', 'The webhook dispatcher function fails: webhooks are not being sent. See its log group.', dispatcher.metricErrors({ period: fiveMinutes }), 3, 1),
      alarm('RecordsApiErrorsAlarm', 'The records API function fails (a timeout, out of memory, a configuration error at start; request failures are 503s): callers get 500s. See its log group.', apiFunction.metricErrors({ period: fiveMinutes }), 5, 1),
      // Lambda reports no Invocations at all when nothing runs: missing data is the failure here.
      alarm('RecorderNotRunningAlarm', 'The records recorder has not run for 10 minutes (schedule disabled or deleted, function throttled to zero)', recorder.metricInvocations({ period: fiveMinutes }), 1, 2, {
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
      alarm('RoomsFailingAlarm', 'Rooms have failed to record for 15 minutes (the database refuses them): they stay marked and are retried every run', run(recorder, 'RoomsFailed'), 1, 3),
      alarm('RoomsDeferredAlarm', 'The recorder has been behind for 15 minutes (rooms left for the next run): raise its memory or the database capacity', run(recorder, 'RoomsDeferred'), 1, 3),
      alarm('WebhooksDeadLetteredAlarm', 'Webhooks were dead-lettered after their retry window: an endpoint is down or refusing. List and redeliver them with the records API.', run(dispatcher, 'WebhooksDeadLettered', Duration.minutes(15)), 1, 1),
      alarm('RecordsApi5xxAlarm', 'The records HTTP API answers 5xx (503: database or Redis unreachable; 500: the function failed)', httpMetric('5xx'), 5, 1),
    ];
  }
}
