import { connection, oauth2Connection, OAuth2Type } from "@prismatic-io/spectral";

const baseUrl = {
  label: "Base URL",
  type: "string" as const,
  required: true,
  placeholder: "https://api.example.com",
  comments: "The root URL of the Syncline API, without /v1.",
  example: "https://api.example.com",
};

export const apiKeyConnection = connection({
  key: "apiKey",
  display: {
    label: "Syncline API key",
    description:
      "Authenticates with a tenant's Syncline API key (the api_key.key answered by POST /admin/tenants). Suited to organization-activated customer connections.",
  },
  inputs: {
    baseUrl,
    apiKey: {
      label: "API key",
      type: "password",
      required: true,
      comments: "A Syncline API key. It is sent as a bearer token.",
    },
  },
});

export const clientCredentialsConnection = oauth2Connection({
  key: "oauthClientCredentials",
  display: {
    label: "Syncline OAuth 2.0 client credentials",
    description:
      "Authenticates with a tenant's OAuth client (client_id and client_secret from POST /admin/tenants); access tokens come from {Base URL}/oauth/token.",
  },
  oauth2Type: OAuth2Type.ClientCredentials,
  inputs: {
    baseUrl,
    tokenUrl: {
      label: "Token URL",
      type: "string",
      required: true,
      placeholder: "https://api.example.com/oauth/token",
      comments: "Syncline's token endpoint: the base URL followed by /oauth/token.",
      example: "https://api.example.com/oauth/token",
    },
    scopes: {
      label: "Scopes",
      type: "string",
      required: false,
      default: "",
      comments: "Space-separated scopes to request; empty asks for every scope of the client.",
    },
    clientId: { label: "Client ID", type: "string", required: true },
    clientSecret: { label: "Client secret", type: "password", required: true },
  },
});

export default [apiKeyConnection, clientCredentialsConnection];
