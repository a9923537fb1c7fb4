/** A bad `grove operator` flag: the CLI prints it as a USAGE error and exits 2. */
export class OperatorUsageError extends Error {
  readonly code = 'OPERATOR_USAGE';
}
