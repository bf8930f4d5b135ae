import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@classwire/core';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleLambdaHandlers } from '../src/cdk/bundle.js';
import { ClasswireStack, type ClasswireStackProps } from '../src/cdk/stack.js';

type Resource = { Type: string; Properties: Record<string, unknown> };

let assetDir: string;
let withRecords: Template;
let without: Template;

beforeAll(async () => {
  assetDir = await bundleLambdaHandlers(join(mkdtempSync(join(tmpdir(), 'cw-asset-')), 'lambda'));
  withRecords = synth({ records: { retentionDays: 400, webhookEnvironment: { CLASSWIRE_WEBHOOK_URL: 'https://lms.example.com/hooks', CLASSWIRE_WEBHOOK_SECRET: 'whsec_c2VjcmV0' } } });
  without = synth();
});
afterAll(() => {
  rmSync(join(assetDir, '..'), { recursive: true, force: true });
});

function synth(props: Partial<ClasswireStackProps> = {}): Template {
  // Synthesized under the test's temporary folder (removed after the file), not a new /tmp/cdk.out* each time.
  const app = new App({ outdir: mkdtempSync(join(assetDir, '..', 'cdk.out-')) });
  return Template.fromStack(new ClasswireStack(app, 'ClasswireTest', { assetDir, ...props }));
}

function resources(from: Template, type: string): Record<string, Resource> {
  return from.findResources(type) as Record<string, Resource>;
}

function functionByHandler(from: Template, handler: string): Resource {
  return Object.values(resources(from, 'AWS::Lambda::Function')).find((fn) => fn.Properties.Handler === handler)!;
}

function functionId(from: Template, handler: string): string {
  return Object.entries(resources(from, 'AWS::Lambda::Function')).find(([, fn]) => fn.Properties.Handler === handler)![0];
}

/** The records alarms, by the id each is created under (CDK appends a hash to the logical id). */
const RECORDS_ALARMS = ['RecorderErrorsAlarm', 'DispatcherErrorsAlarm', 'RecordsApiErrorsAlarm', 'RecorderNotRunningAlarm', 'RoomsFailingAlarm', 'RoomsDeferredAlarm', 'WebhooksDeadLetteredAlarm', 'RecordsApi5xxAlarm'];

function alarmsNamed(from: Template, id: string): Record<string, unknown>[] {
  return Object.entries(resources(from, 'AWS::CloudWatch::Alarm'))
    .filter(([logicalId]) => new RegExp(`^${id}[0-9A-F]{8}$`).test(logicalId))
    .map(([, alarm]) => alarm.Properties);
}

function groupId(from: Template, prefix: string): string {
  return Object.keys(resources(from, 'AWS::EC2::SecurityGroup')).find((id) => id.startsWith(prefix))!;
}

/** Every ingress rule naming `group` as its target, inline or separate. */
function ingressTo(from: Template, group: string): Record<string, unknown>[] {
  return [
    ...Object.values(resources(from, 'AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties),
    ...((resources(from, 'AWS::EC2::SecurityGroup')[group]!.Properties.SecurityGroupIngress as Record<string, unknown>[] | undefined) ?? []),
  ].filter((rule) => JSON.stringify(rule.GroupId ?? { 'Fn::GetAtt': [group] }).includes(group));
}

describe('the stack without records', () => {
  it('has no database, no records functions, and publishes mark nothing', () => {
    without.resourceCountIs('AWS::RDS::DBCluster', 0);
    without.resourceCountIs('AWS::RDS::DBProxy', 0);
    expect(functionByHandler(without, 'records.record')).toBeUndefined();
    expect(functionByHandler(without, 'records.dispatch')).toBeUndefined();
    expect(JSON.stringify(functionByHandler(without, 'index.message').Properties.Environment)).not.toContain('CLASSWIRE_RECORD_ROOMS');
    // No database for history either: `$default` has no database variables and only the handlers' group.
    expect(JSON.stringify(functionByHandler(without, 'index.message').Properties.Environment)).not.toContain('CLASSWIRE_DATABASE');
    expect((functionByHandler(without, 'index.message').Properties.VpcConfig as { SecurityGroupIds: unknown[] }).SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [groupId(without, 'HandlerSecurityGroup'), 'GroupId'] }]);
    expect(groupId(without, 'HistorySecurityGroup')).toBeUndefined();
    expect(functionByHandler(without, 'records.api')).toBeUndefined();
    without.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    without.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'WEBSOCKET' });
  });

  it('has no records alarms and no records row on the dashboard', () => {
    for (const id of RECORDS_ALARMS) expect(alarmsNamed(without, id)).toEqual([]);
    const alarms = JSON.stringify(resources(without, 'AWS::CloudWatch::Alarm'));
    without.resourceCountIs('AWS::CloudWatch::Alarm', 15);
    for (const metric of ['RoomsFailed', 'RoomsDeferred', 'WebhooksDeadLettered', '5xx', 'Invocations']) expect(alarms).not.toContain(`"MetricName":"${metric}"`);
    expect(alarms).not.toContain('"Name":"Function"');
    const body = JSON.stringify(Object.values(resources(without, 'AWS::CloudWatch::Dashboard'))[0]!.Properties.DashboardBody);
    for (const metric of ['RoomsRecorded', 'WebhooksDelivered', '4xx', '5xx', 'Invocations']) expect(body).not.toContain(`\\"${metric}\\"`);
  });
});

describe('the stack with records', () => {
  it('bundles the records functions apart, without the embedded database', () => {
    expect(existsSync(join(assetDir, 'records.mjs'))).toBe(true);
    // PGlite stays an unresolved lazy import; the WebSocket functions carry no Postgres client at all.
    expect(readFileSync(join(assetDir, 'records.mjs'), 'utf8')).not.toContain('PGlite.create=');
    expect(readFileSync(join(assetDir, 'index.mjs'), 'utf8')).not.toContain('pg-pool');
  });

  it('runs Aurora Serverless v2 Postgres at 0.5 ACU minimum, encrypted, with generated credentials in Secrets Manager', () => {
    withRecords.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 4 },
      StorageEncrypted: true,
      DatabaseName: 'classwire',
      MasterUsername: Match.anyValue(),
    });
    withRecords.hasResourceProperties('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless', Engine: 'aurora-postgresql' });
    withRecords.hasResourceProperties('AWS::SecretsManager::Secret', { GenerateSecretString: Match.objectLike({ SecretStringTemplate: '{"username":"classwire"}' }) });
    withRecords.hasResourceProperties('AWS::RDS::DBProxy', { EngineFamily: 'POSTGRESQL', RequireTLS: true });
    // The records' server-side bounds come from the proxy: the functions cannot send them at connection start.
    withRecords.hasResourceProperties('AWS::RDS::DBProxyTargetGroup', {
      ConnectionPoolConfigurationInfo: Match.objectLike({ InitQuery: 'SET statement_timeout = 55000; SET idle_in_transaction_session_timeout = 60000' }),
    });
    // The cluster lives in the private subnets.
    const privateSubnets = Object.keys(resources(withRecords, 'AWS::EC2::Subnet')).filter((id) => id.includes('private'));
    const subnetGroup = Object.values(resources(withRecords, 'AWS::RDS::DBSubnetGroup'))[0]!;
    expect((subnetGroup.Properties.SubnetIds as { Ref: string }[]).map((s) => s.Ref).sort()).toEqual(privateSubnets.sort());
  });

  it('admits only the records functions and `$default` (history) to the proxy, and only the proxy to the cluster', () => {
    const functions = groupId(withRecords, 'RecordsFunctionsSecurityGroup');
    const history = groupId(withRecords, 'HistorySecurityGroup');
    const proxy = groupId(withRecords, 'RecordsProxySecurityGroup');
    const cluster = groupId(withRecords, 'RecordsDatabaseSecurityGroup');
    expect(ingressTo(withRecords, proxy)).toEqual([
      expect.objectContaining({ FromPort: 5432, ToPort: 5432, SourceSecurityGroupId: { 'Fn::GetAtt': [functions, 'GroupId'] } }),
      expect.objectContaining({ FromPort: 5432, ToPort: 5432, SourceSecurityGroupId: { 'Fn::GetAtt': [history, 'GroupId'] } }),
    ]);
    expect(ingressTo(withRecords, cluster)).toEqual([expect.objectContaining({ IpProtocol: 'tcp', SourceSecurityGroupId: { 'Fn::GetAtt': [proxy, 'GroupId'] } })]);
  });

  it('schedules the recorder and the dispatcher every minute, in the private subnets, reading the database secret through the proxy', () => {
    const handlers = groupId(withRecords, 'HandlerSecurityGroup');
    const functions = groupId(withRecords, 'RecordsFunctionsSecurityGroup');
    const recorder = functionByHandler(withRecords, 'records.record');
    const dispatcher = functionByHandler(withRecords, 'records.dispatch');
    for (const fn of [recorder, dispatcher]) {
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], Timeout: 60 });
      expect(fn.Properties.Environment).toMatchObject({
        Variables: {
          CLASSWIRE_DATABASE_SECRET_ARN: { Ref: expect.stringMatching(/^RecordsDatabaseSecretAttachment/) },
          CLASSWIRE_DATABASE_HOST: { 'Fn::GetAtt': [expect.stringMatching(/^RecordsDatabaseRecordsProxy/), 'Endpoint'] },
          CLASSWIRE_WEBHOOK_URL: 'https://lms.example.com/hooks',
        },
      });
    }
    // Only the recorder reads Redis (the room logs); the dispatcher needs the database and the internet.
    expect((recorder.Properties.VpcConfig as { SecurityGroupIds: unknown[] }).SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [functions, 'GroupId'] }, { 'Fn::GetAtt': [handlers, 'GroupId'] }]);
    expect((dispatcher.Properties.VpcConfig as { SecurityGroupIds: unknown[] }).SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [functions, 'GroupId'] }]);
    const rules = Object.values(resources(withRecords, 'AWS::Events::Rule')).filter((rule) => rule.Properties.ScheduleExpression === 'rate(1 minute)');
    const targeted = rules.map((rule) => JSON.stringify(rule.Properties.Targets));
    expect(targeted.some((t) => t.includes('Recorder'))).toBe(true);
    expect(targeted.some((t) => t.includes('Dispatcher'))).toBe(true);
    // Each may read the generated secret (GetSecretValue on it), nothing broader.
    const policies = Object.values(resources(withRecords, 'AWS::IAM::Policy')).filter((policy) => /Recorder|Dispatcher/.test(JSON.stringify(policy.Properties.Roles)));
    expect(policies).toHaveLength(2);
    for (const policy of policies) expect(JSON.stringify(policy.Properties.PolicyDocument)).toMatch(/secretsmanager:GetSecretValue.*RecordsDatabaseSecret/);
  });

  it('passes records.retentionDays to the recorder only, and refuses one out of range at synth', () => {
    const variables = (from: Template, handler: string) => (functionByHandler(from, handler).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables(withRecords, 'records.record').CLASSWIRE_RECORDS_RETENTION_DAYS).toBe('400');
    expect(variables(withRecords, 'records.dispatch').CLASSWIRE_RECORDS_RETENTION_DAYS).toBeUndefined();
    // Without the prop, records are kept.
    expect(variables(synth({ records: {} }), 'records.record').CLASSWIRE_RECORDS_RETENTION_DAYS).toBeUndefined();
    for (const bad of [0, 36_501, 1.5, Number.NaN]) {
      expect(() => synth({ records: { retentionDays: bad } })).toThrow(ConfigError);
      expect(() => synth({ records: { retentionDays: bad } })).toThrow(/^records\.retentionDays: .* is not a whole number of days from 1 to 36500$/);
    }
  });

  it('turns on room marking in every function that runs the engine, and only there', () => {
    for (const handler of ['index.connect', 'index.disconnect', 'index.message', 'index.sweep']) {
      expect(functionByHandler(withRecords, handler).Properties.Environment).toMatchObject({ Variables: { CLASSWIRE_RECORD_ROOMS: 'true' } });
    }
    expect(JSON.stringify(functionByHandler(withRecords, 'index.authorizer').Properties.Environment)).not.toContain('CLASSWIRE_RECORD_ROOMS');
  });

  it('gives `$default` (history beyond the live log) the database through the proxy: its variables, its secret and the history group; no other engine function', () => {
    const handlers = groupId(withRecords, 'HandlerSecurityGroup');
    const history = groupId(withRecords, 'HistorySecurityGroup');
    const message = functionByHandler(withRecords, 'index.message');
    expect(message.Properties.Environment).toMatchObject({
      Variables: {
        CLASSWIRE_DATABASE_SECRET_ARN: { Ref: expect.stringMatching(/^RecordsDatabaseSecretAttachment/) },
        CLASSWIRE_DATABASE_HOST: { 'Fn::GetAtt': [expect.stringMatching(/^RecordsDatabaseRecordsProxy/), 'Endpoint'] },
      },
    });
    expect((message.Properties.VpcConfig as { SecurityGroupIds: unknown[] }).SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [handlers, 'GroupId'] }, { 'Fn::GetAtt': [history, 'GroupId'] }]);
    const role = (message.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const policy = Object.values(resources(withRecords, 'AWS::IAM::Policy')).find((candidate) => JSON.stringify(candidate.Properties.Roles).includes(role))!;
    expect(JSON.stringify(policy.Properties.PolicyDocument)).toMatch(/secretsmanager:GetSecretValue.*RecordsDatabaseSecret/);
    for (const handler of ['index.connect', 'index.disconnect', 'index.sweep', 'index.authorizer']) {
      const fn = functionByHandler(withRecords, handler);
      expect(JSON.stringify(fn.Properties.Environment)).not.toContain('CLASSWIRE_DATABASE');
      expect(JSON.stringify(fn.Properties.VpcConfig ?? {})).not.toContain(history);
    }
  });

  it('serves the records HTTP API: the same routes under /backend with AWS_IAM and at the root with none, one function, a throttled stage and its URL as an output', () => {
    withRecords.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    withRecords.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: '$default', AutoDeploy: true, DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 } });
    const routes = Object.values(resources(withRecords, 'AWS::ApiGatewayV2::Route')).map((route) => route.Properties);
    const httpRoutes = routes.filter((route) => / \//.test(String(route.RouteKey)));
    expect(httpRoutes.map((route) => `${String(route.RouteKey)} ${String(route.AuthorizationType)}`).sort()).toEqual([
      'DELETE /backend/{proxy+} AWS_IAM',
      'DELETE /{proxy+} NONE',
      'GET /backend/{proxy+} AWS_IAM',
      'GET /{proxy+} NONE',
      'POST /backend/{proxy+} AWS_IAM',
      'POST /{proxy+} NONE',
    ]);
    // Every route goes to the records API function, with payload format 2.0.
    const api = Object.keys(resources(withRecords, 'AWS::Lambda::Function')).find((id) => id.startsWith('RecordsApi'))!;
    const integrations = Object.values(resources(withRecords, 'AWS::ApiGatewayV2::Integration')).filter((integration) => integration.Properties.PayloadFormatVersion === '2.0');
    expect(integrations).toHaveLength(1);
    expect(JSON.stringify(integrations[0]!.Properties.IntegrationUri)).toContain(api);
    expect(Object.keys(withRecords.findOutputs('RecordsApiUrl'))).toEqual(['RecordsApiUrl']);
    // The stage throttle is a prop.
    synth({ records: { apiThrottle: { rateLimit: 5, burstLimit: 10 } } }).hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: '$default', DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 } });
    for (const bad of [{ rateLimit: 0, burstLimit: 10 }, { rateLimit: 10_001, burstLimit: 10 }, { rateLimit: 5, burstLimit: 1.5 }, { rateLimit: Number.NaN, burstLimit: 10 }, { rateLimit: 5, burstLimit: 5_001 }]) {
      expect(() => synth({ records: { apiThrottle: bad } })).toThrow(ConfigError);
      expect(() => synth({ records: { apiThrottle: bad } })).toThrow(/^records\.apiThrottle: .* must be whole numbers from 1 to 10000 and 5000$/);
    }
  });

  it('alarms on the records functions\' errors, a recorder that stopped, failing or deferred rooms, dead-lettered webhooks and API 5xx', () => {
    const recorder = { Ref: functionId(withRecords, 'records.record') };
    const dispatcher = { Ref: functionId(withRecords, 'records.dispatch') };
    const api = { Ref: functionId(withRecords, 'records.api') };
    const httpApi = { Ref: Object.keys(resources(withRecords, 'AWS::ApiGatewayV2::Api')).find((id) => id.startsWith('RecordsHttpApi'))! };
    const atLeast = 'GreaterThanOrEqualToThreshold';
    const expected: Record<string, Record<string, unknown>> = {
      RecorderErrorsAlarm: { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: recorder }], Period: 300, Threshold: 3, EvaluationPeriods: 1, ComparisonOperator: atLeast, TreatMissingData: 'notBreaching' },
      DispatcherErrorsAlarm: { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: dispatcher }], Period: 300, Threshold: 3, EvaluationPeriods: 1, ComparisonOperator: atLeast, TreatMissingData: 'notBreaching' },
      RecordsApiErrorsAlarm: { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: api }], Period: 300, Threshold: 5, EvaluationPeriods: 1, ComparisonOperator: atLeast, TreatMissingData: 'notBreaching' },
      // No invocation in two 5-minute periods; Lambda sends no data point when nothing ran, so missing data breaches.
      RecorderNotRunningAlarm: { Namespace: 'AWS/Lambda', MetricName: 'Invocations', Dimensions: [{ Name: 'FunctionName', Value: recorder }], Statistic: 'Sum', Period: 300, Threshold: 1, EvaluationPeriods: 2, ComparisonOperator: 'LessThanThreshold', TreatMissingData: 'breaching' },
      // The EMF metrics of records-handlers.ts, dimension Function = the function's name.
      RoomsFailingAlarm: { Namespace: 'Classwire', MetricName: 'RoomsFailed', Dimensions: [{ Name: 'Function', Value: recorder }], Statistic: 'Sum', Period: 300, Threshold: 1, EvaluationPeriods: 3, ComparisonOperator: atLeast, TreatMissingData: 'notBreaching' },
      RoomsDeferredAlarm: { Namespace: 'Classwire', MetricName: 'RoomsDeferred', Dimensions: [{ Name: 'Function', Value: recorder }], Statistic: 'Sum', Period: 300, Threshold: 1, EvaluationPeriods: 3, ComparisonOperator: atLeast, TreatMissingData: 'notBreaching' },
      WebhooksDeadLetteredAlarm: { Namespace: 'Classwire', MetricName: 'WebhooksDeadLettered', Dimensions: [{ Name: 'Function', Value: dispatcher }], Statistic: 'Sum', Period: 900, Threshold: 1, EvaluationPeriods: 1, ComparisonOperator: atLeast, TreatMissingData: 'notBreaching' },
      RecordsApi5xxAlarm: { Namespace: 'AWS/ApiGateway', MetricName: '5xx', Dimensions: [{ Name: 'ApiId', Value: httpApi }, { Name: 'Stage', Value: '$default' }], Statistic: 'Sum', Period: 300, Threshold: 5, EvaluationPeriods: 1, ComparisonOperator: atLeast, TreatMissingData: 'notBreaching' },
    };
    for (const [id, properties] of Object.entries(expected)) {
      const found = alarmsNamed(withRecords, id);
      expect(found, id).toHaveLength(1);
      expect(found[0], id).toMatchObject(properties);
      // Without alarmEmail, nothing is notified.
      expect(found[0]!.AlarmActions, id).toBeUndefined();
    }
    expect(Object.keys(expected).sort()).toEqual([...RECORDS_ALARMS].sort());
    // The engine's 15 alarms and the 8 of records.
    withRecords.resourceCountIs('AWS::CloudWatch::Alarm', 15 + RECORDS_ALARMS.length);
  });

  it('sends the records alarms to the same topic as the others when alarmEmail is set', () => {
    const withEmail = synth({ alarmEmail: 'ops@example.com', records: {} });
    withEmail.resourceCountIs('AWS::SNS::Topic', 1);
    const topic = { Ref: Object.keys(resources(withEmail, 'AWS::SNS::Topic'))[0]! };
    const alarms = resources(withEmail, 'AWS::CloudWatch::Alarm');
    expect(Object.keys(alarms)).toHaveLength(15 + RECORDS_ALARMS.length);
    for (const alarm of Object.values(alarms)) expect(alarm.Properties.AlarmActions).toEqual([topic]);
    for (const id of RECORDS_ALARMS) expect(alarmsNamed(withEmail, id)).toHaveLength(1);
  });

  it('has a records row on the dashboard: runs, rooms, webhook outcomes, API 4xx/5xx and latency', () => {
    const body = JSON.stringify(Object.values(resources(withRecords, 'AWS::CloudWatch::Dashboard'))[0]!.Properties.DashboardBody);
    for (const metric of ['Invocations', 'RoomsRecorded', 'RoomsFailed', 'RoomsDeferred', 'RetentionFailed', 'WebhooksDelivered', 'WebhookAttemptsFailed', 'WebhooksDeadLettered', '4xx', '5xx', 'Latency']) {
      expect(body).toContain(`\\"${metric}\\"`);
    }
    for (const title of ['Records runs', 'Rooms recorded, failed, deferred', 'Webhooks delivered', 'Records API']) expect(body).toContain(title);
    // The EMF metrics are graphed per function (the dimension records-handlers.ts logs).
    expect(body).toContain(functionId(withRecords, 'records.record'));
    expect(body).toContain(functionId(withRecords, 'records.dispatch'));
  });

  it('runs the records API function in the private subnets with the database, Redis and the JWT secret, and gives the JWT settings to it alone of the records functions', () => {
    const handlers = groupId(withRecords, 'HandlerSecurityGroup');
    const functions = groupId(withRecords, 'RecordsFunctionsSecurityGroup');
    const api = functionByHandler(withRecords, 'records.api');
    expect(api.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], Timeout: 29 });
    expect((api.Properties.VpcConfig as { SecurityGroupIds: unknown[] }).SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [functions, 'GroupId'] }, { 'Fn::GetAtt': [handlers, 'GroupId'] }]);
    const variables = (handler: string) => (functionByHandler(withRecords, handler).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables('records.api')).toMatchObject({
      CLASSWIRE_DATABASE_SECRET_ARN: { Ref: expect.stringMatching(/^RecordsDatabaseSecretAttachment/) },
      CLASSWIRE_DATABASE_HOST: { 'Fn::GetAtt': [expect.stringMatching(/^RecordsDatabaseRecordsProxy/), 'Endpoint'] },
      CLASSWIRE_REDIS_URL: expect.anything(),
      CLASSWIRE_JWT_SECRET_ARN: { Ref: expect.stringMatching(/^JwtSecret/) },
    });
    expect(variables('records.record').CLASSWIRE_JWT_SECRET_ARN).toBeUndefined();
    const policy = Object.values(resources(withRecords, 'AWS::IAM::Policy')).find((candidate) => /RecordsApi/.test(JSON.stringify(candidate.Properties.Roles)))!;
    const document = JSON.stringify(policy.Properties.PolicyDocument);
    expect(document).toMatch(/secretsmanager:GetSecretValue.*JwtSecret/);
    expect(document).toMatch(/secretsmanager:GetSecretValue.*RecordsDatabaseSecret/);
    // With a JWKS URL there is no secret to read: the function gets the URL.
    const jwks = synth({ jwt: { jwksUrl: 'https://idp.example.com/.well-known/jwks.json', issuer: 'https://idp.example.com' }, records: {} });
    expect((functionByHandler(jwks, 'records.api').Properties.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({ CLASSWIRE_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json', CLASSWIRE_JWT_ISSUER: 'https://idp.example.com' });
  });
});
