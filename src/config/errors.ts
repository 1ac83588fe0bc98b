/**
 * The one error type of the config package: {@linkcode ConfigError} carries every problem found
 * in a configuration (not just the first), each with the v1alpha1 YAML path it concerns and,
 * when known, the line of the file it came from.
 *
 * @module
 */

/** One thing wrong with a configuration. */
export interface ConfigProblem {
  /**
   * The v1alpha1 YAML path of the field (`iptables.masqueradeBit`, `ipvs.excludeCIDRs[1]`,
   * `clusterCIDR`), a flag name without dashes (`hostname-override`), or "" for problems with
   * the document as a whole (YAML syntax, an empty file).
   */
  path: string;
  /** What is wrong, without the path: `must be within [0, 31], got 40`. */
  message: string;
  /** 1-based line in the configuration file, when the problem comes from a file. */
  line?: number;
}

/** Renders one problem as `path: message (line N)`, leaving out the parts that are absent. */
export function formatProblem(problem: ConfigProblem): string {
  const head = problem.path === "" ? problem.message : `${problem.path}: ${problem.message}`;
  return problem.line === undefined ? head : `${head} (line ${problem.line})`;
}

/**
 * A configuration that cannot be used. `message` lists every problem, one per line, so a CLI can
 * print it as is; `problems` keeps them structured for tests and callers that want to filter.
 */
export class ConfigError extends Error {
  /** Every problem found, in the order they were found. */
  readonly problems: readonly ConfigProblem[];

  /** Builds the error from at least one problem. */
  constructor(problems: readonly ConfigProblem[], options?: ErrorOptions) {
    super(problems.map(formatProblem).join("\n"), options);
    this.name = "ConfigError";
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}

/**
 * Collects problems while a configuration is checked, attaching file lines through `lineOf`,
 * so that checks never stop at the first problem.
 */
export class ProblemList {
  readonly #items: ConfigProblem[] = [];
  readonly #lineOf: ((path: string) => number | undefined) | undefined;

  /** `lineOf` maps a YAML path to the line it was written on (see `DecodedConfig.lineOf`). */
  constructor(lineOf?: (path: string) => number | undefined) {
    this.#lineOf = lineOf;
  }

  /**
   * Records a problem at `path`. `linePath` names the spot whose line to report when it differs
   * from `path` (e.g. the key of one feature gate for a problem reported on `featureGates`).
   */
  add(path: string, message: string, linePath: string = path): void {
    const line = this.#lineOf?.(linePath);
    this.#items.push(line === undefined ? { path, message } : { path, message, line });
  }

  /** The problems recorded so far. */
  get items(): readonly ConfigProblem[] {
    return this.#items;
  }

  /** Throws a {@linkcode ConfigError} listing every recorded problem, if there is any. */
  throwIfAny(): void {
    if (this.#items.length > 0) throw new ConfigError(this.#items);
  }
}
