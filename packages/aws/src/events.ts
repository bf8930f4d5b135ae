/**
 * The API Gateway WebSocket events and results the handlers see, typed from the documented shapes and
 * real captures (see docs/aws.md). The emulator (`@classwire/apigw-emulator`) builds exactly these.
 */

export type WebSocketEventType = 'CONNECT' | 'MESSAGE' | 'DISCONNECT';

/** What the REQUEST authorizer returned as `context`, plus `principalId`, on every later event. */
export type AuthorizerContext = Record<string, string | number | boolean | undefined>;

export interface WebSocketRequestContext {
  routeKey: string;
  eventType: WebSocketEventType;
  /** Present on MESSAGE events only. */
  messageId?: string;
  extendedRequestId: string;
  /** Common Log Format, e.g. `19/Jan/2023:21:13:26 +0000`. */
  requestTime: string;
  messageDirection: 'IN';
  stage: string;
  /** Epoch ms of the upgrade request. */
  connectedAt: number;
  requestTimeEpoch: number;
  identity: { sourceIp: string; userAgent?: string };
  requestId: string;
  domainName: string;
  connectionId: string;
  apiId: string;
  authorizer?: AuthorizerContext;
  /** DISCONNECT only: the close code and reason. */
  disconnectStatusCode?: number;
  disconnectReason?: string;
}

export interface WebSocketEvent {
  requestContext: WebSocketRequestContext;
  isBase64Encoded: boolean;
  /** MESSAGE only: the raw text frame. */
  body?: string;
  /** CONNECT and DISCONNECT only. */
  headers?: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
  /** CONNECT only, and only when the URL has a query string. */
  queryStringParameters?: Record<string, string>;
  multiValueQueryStringParameters?: Record<string, string[]>;
}

export interface WebSocketResult {
  statusCode: number;
  body?: string;
  headers?: Record<string, string>;
}

export interface RequestAuthorizerEvent {
  type: 'REQUEST';
  /** `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/$connect` */
  methodArn: string;
  headers?: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
  queryStringParameters?: Record<string, string>;
  multiValueQueryStringParameters?: Record<string, string[]>;
  stageVariables?: Record<string, string>;
  requestContext: WebSocketRequestContext;
}

export interface PolicyStatement {
  Action: string | string[];
  Effect: 'Allow' | 'Deny';
  Resource: string | string[];
}

export interface AuthorizerResult {
  principalId: string;
  policyDocument: { Version: '2012-10-17'; Statement: PolicyStatement[] };
  context?: Record<string, string | number | boolean>;
}

/** The parts of the Lambda context object the handlers use. */
export interface LambdaContext {
  awsRequestId: string;
  functionName: string;
  getRemainingTimeInMillis(): number;
}

/**
 * An API Gateway HTTP API event, payload format 2.0 (the records API, records-api.ts), as documented
 * by AWS. Only the fields the handler reads are typed; API Gateway builds `requestContext` itself, so a
 * client cannot set it, but which route it matched decides what in it the handler trusts.
 */
export interface HttpApiEvent {
  version: '2.0';
  /** `METHOD /path` of the matched route, e.g. `GET /backend/{proxy+}`. */
  routeKey: string;
  /** The path, percent-encoded as sent; without the stage on the `$default` stage. */
  rawPath: string;
  rawQueryString: string;
  /** Header names in lower case; repeated headers joined with commas. */
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded: boolean;
  requestContext: {
    http: { method: string; path: string; sourceIp: string; userAgent?: string };
    requestId: string;
    routeKey: string;
    stage: string;
    /** Present on a route with `AWS_IAM` authorization: the caller API Gateway verified. */
    authorizer?: { iam?: HttpApiIamIdentity };
  };
}

export interface HttpApiIamIdentity {
  accessKey?: string;
  accountId?: string;
  callerId?: string;
  userArn?: string;
  userId?: string;
}

/** A payload 2.0 result: what API Gateway sends back to the caller. */
export interface HttpApiResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: false;
}
