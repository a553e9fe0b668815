// Status objects and the errors the fake API server answers with, as the real one words them.
import type { ResourceType } from "./types.js";

// ---------------------------------------------------------------------------------------------------------------
// Status objects and errors

export interface StatusObject {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, unknown>;
  status: "Failure" | "Success";
  message: string;
  reason: string;
  details?: Record<string, unknown>;
  code: number;
}

export function statusObject(
  code: number,
  reason: string,
  message: string,
  details?: Record<string, unknown>,
): StatusObject {
  const s: StatusObject = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code };
  if (details) s.details = details;
  return s;
}

export class ApiError extends Error {
  constructor(readonly status: StatusObject) {
    super(status.message);
  }
}

export function notFound(rt: ResourceType, name: string): ApiError {
  return new ApiError(statusObject(404, "NotFound", `${rt.plural} "${name}" not found`, { name, kind: rt.plural }));
}

export function reasonFor(code: number): string {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return code >= 500 ? "InternalError" : "Unknown";
  }
}
