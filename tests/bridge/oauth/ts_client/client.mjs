// The official TypeScript MCP SDK as an OAuth client of the bridge (driven by
// tests/bridge/oauth/test_typescript_client.py).
//
//   node client.mjs client_credentials MCP_URL CLIENT_ID ISSUER     (secret on stdin, one line)
//   node client.mjs pkce MCP_URL CLIENT_ID ISSUER REDIRECT_URI
//
// pkce prints {"authorize": URL} and reads the authorization code from stdin, as a browser
// redirect would bring it. Both then list the tools, call echo, and print {"tools", "echo"}.
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";

const [mode, url, clientId, issuer, redirectUri] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const nextLine = async () => (await lines.next()).value.trim();

class PkceProvider {
  constructor() {
    this.info = { client_id: clientId, issuer };
  }
  get redirectUrl() {
    return redirectUri;
  }
  get clientMetadata() {
    return {
      client_name: "ts-pkce",
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      token_endpoint_auth_method: "none",
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(authorizationUrl) {
    console.log(JSON.stringify({ authorize: authorizationUrl.toString() }));
  }
  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

async function session(provider) {
  const client = new Client({ name: "ts-oauth-client", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }));
  const tools = (await client.listTools()).tools.map((tool) => tool.name).sort();
  const echo = await client.callTool({ name: "echo", arguments: { text: "from typescript" } });
  console.log(JSON.stringify({ tools, echo: echo.structuredContent ?? echo.content }));
  await client.close();
}

async function main() {
  if (mode === "client_credentials") {
    const clientSecret = await nextLine();
    await session(new ClientCredentialsProvider({ clientId, clientSecret, expectedIssuer: issuer }));
    return;
  }
  const provider = new PkceProvider();
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  const client = new Client({ name: "ts-oauth-client", version: "1.0.0" });
  try {
    await client.connect(transport);
    throw new Error("connected without authorization");
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
  }
  await transport.finishAuth(await nextLine());
  await session(provider);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`ts client: ${error?.message ?? error}`);
    process.exit(1);
  },
);
