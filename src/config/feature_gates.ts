/**
 * Feature gates as kube-proxy 1.36 knows them. Upstream kube-proxy accepts every gate registered
 * in the Kubernetes binary (not only proxy ones), so this is the whole table, names taken from
 * `pkg/features/kube_features.go` of the 1.36 development line plus the gates component-base
 * (logging, zpages), client-go, apiserver, apiextensions and controller-manager register into
 * the same gate set. Each gate carries its stage and default; GA or deprecated gates that are
 * locked refuse any other value, as upstream's `SetFromMap` does.
 *
 * Also here: the parser of the `--feature-gates` flag (`A=true,B=false`).
 *
 * @module
 */

import { ConfigError } from "./errors.ts";

/** Maturity of a gate. */
export type FeatureStage = "Alpha" | "Beta" | "GA" | "Deprecated";

/** What the binary knows about one gate. */
export interface FeatureGateSpec {
  readonly stage: FeatureStage;
  /** The value when the gate is not set. */
  readonly default: boolean;
  /** The gate cannot be set to anything but its default. */
  readonly locked: boolean;
}

const A = "Alpha";
const B = "Beta";
const GA = "GA";
const D = "Deprecated";
/** Marks a locked gate in the table below. */
const L = "locked";

/** [name, stage, default, locked?]; alphabetical within each origin. */
const TABLE: ReadonlyArray<readonly [string, FeatureStage, boolean, typeof L?]> = [
  // component-base: the two meta gates and the logging gates.
  ["AllAlpha", A, false],
  ["AllBeta", B, false],
  ["ContextualLogging", B, true],
  ["LoggingAlphaOptions", A, false],
  ["LoggingBetaOptions", B, true],
  // component-base zpages
  ["ComponentFlagz", A, false],
  ["ComponentStatusz", A, false],
  // client-go
  ["ClientsAllowCBOR", A, false],
  ["ClientsPreferCBOR", A, false],
  ["InOrderInformers", B, true],
  ["InformerResourceVersion", A, false],
  ["WatchListClient", B, true],
  // k8s.io/kubernetes/pkg/features
  ["AllowDNSOnlyNodeCSR", D, false],
  ["AllowInsecureKubeletCertificateSigningRequests", D, false],
  ["AllowOverwriteTerminationGracePeriodSeconds", D, false, L],
  ["AnyVolumeDataSource", GA, true, L],
  ["AuthorizeNodeWithSelectors", GA, true, L],
  ["AuthorizePodWebsocketUpgradeCreatePermission", B, true],
  ["CPUManagerPolicyAlphaOptions", A, false],
  ["CPUManagerPolicyBetaOptions", B, true],
  ["CPUManagerPolicyOptions", GA, true, L],
  ["CSIMigrationPortworx", GA, true, L],
  ["CSIServiceAccountTokenSecrets", B, true],
  ["CSIVolumeHealth", A, false],
  ["ChangeContainerStatusOnKubeletRestart", D, false],
  ["ClearingNominatedNodeNameAfterBinding", B, true],
  ["ClusterTrustBundle", B, false],
  ["ClusterTrustBundleProjection", B, false],
  ["ContainerCheckpoint", B, true],
  ["ContainerRestartRules", B, true],
  ["ContainerStopSignals", A, false],
  ["CrossNamespaceVolumeDataSource", A, false],
  ["CustomCPUCFSQuotaPeriod", A, false],
  ["DRAAdminAccess", B, true],
  ["DRAConsumableCapacity", A, false],
  ["DRADeviceBindingConditions", A, false],
  ["DRADeviceTaintRules", A, false],
  ["DRADeviceTaints", A, false],
  ["DRAExtendedResource", A, false],
  ["DRAPartitionableDevices", A, false],
  ["DRAPrioritizedList", B, true],
  ["DRAResourceClaimDeviceStatus", B, true],
  ["DRASchedulerFilterTimeout", B, true],
  ["DeploymentReplicaSetTerminatingReplicas", B, true],
  ["DisableAllocatorDualWrite", GA, true, L],
  ["DisableCPUQuotaWithExclusiveCPUs", B, true],
  ["DisableNodeKubeProxyVersion", D, true],
  ["DynamicResourceAllocation", GA, true, L],
  ["EnvFiles", B, true],
  ["EventedPLEG", A, false],
  ["ExecProbeTimeout", GA, true, L],
  ["ExternalServiceAccountTokenSigner", B, true],
  ["GangScheduling", A, false],
  ["GenericWorkload", A, false],
  ["GitRepoVolumeDriver", D, false],
  ["GracefulNodeShutdown", B, true],
  ["GracefulNodeShutdownBasedOnPodPriority", B, true],
  ["HPAConfigurableTolerance", B, true],
  ["HPAScaleToZero", A, false],
  ["HonorPVReclaimPolicy", GA, true, L],
  ["HostnameOverride", B, true],
  ["ImageMaximumGCAge", GA, true, L],
  ["ImageVolume", B, true],
  ["ImageVolumeWithDigest", A, false],
  ["InPlacePodLevelResourcesVerticalScaling", A, false],
  ["InPlacePodVerticalScaling", GA, true, L],
  ["InPlacePodVerticalScalingAllocatedStatus", D, false],
  ["InPlacePodVerticalScalingExclusiveCPUs", A, false],
  ["InPlacePodVerticalScalingExclusiveMemory", A, false],
  ["InTreePluginPortworxUnregister", A, false],
  ["JobBackoffLimitPerIndex", GA, true, L],
  ["JobManagedBy", GA, true, L],
  ["JobPodReplacementPolicy", GA, true, L],
  ["JobSuccessPolicy", GA, true, L],
  ["KubeletCgroupDriverFromCRI", GA, true, L],
  ["KubeletCrashLoopBackOffMax", B, true],
  ["KubeletEnsureSecretPulledImages", B, true],
  ["KubeletFineGrainedAuthz", B, true],
  ["KubeletInUserNamespace", A, false],
  ["KubeletPSI", B, true],
  ["KubeletPodResourcesDynamicResources", B, true],
  ["KubeletPodResourcesGet", B, true],
  ["KubeletPodResourcesListUseActivePods", D, true],
  ["KubeletRegistrationGetOnExistsOnly", D, false],
  ["KubeletSeparateDiskGC", B, true],
  ["KubeletServiceAccountTokenForCredentialProviders", B, true],
  ["KubeletTracing", GA, true, L],
  ["LocalStorageCapacityIsolationFSQuotaMonitoring", B, false],
  ["LogarithmicScaleDown", GA, true, L],
  ["MatchLabelKeysInPodAffinity", GA, true, L],
  ["MatchLabelKeysInPodTopologySpread", B, true],
  ["MatchLabelKeysInPodTopologySpreadSelectorMerge", B, true],
  ["MaxUnavailableStatefulSet", B, true],
  ["MemoryManager", GA, true, L],
  ["MemoryQoS", A, false],
  ["MultiCIDRServiceAllocator", GA, true, L],
  ["MutableCSINodeAllocatableCount", B, true],
  ["MutablePVNodeAffinity", A, false],
  ["MutablePodResourcesForSuspendedJobs", A, false],
  ["MutableSchedulingDirectivesForSuspendedJobs", A, false],
  ["NFTablesProxyMode", GA, true, L],
  ["NodeDeclaredFeatures", A, false],
  ["NodeInclusionPolicyInPodTopologySpread", GA, true, L],
  ["NodeLogQuery", B, false],
  ["NodeSwap", GA, true, L],
  ["NominatedNodeNameForExpectation", B, true],
  ["OpportunisticBatching", B, true],
  ["OrderedNamespaceDeletion", GA, true, L],
  ["PodAndContainerStatsFromCRI", A, false],
  ["PodCertificateRequest", B, false],
  ["PodDeletionCost", B, true],
  ["PodLevelResources", B, true],
  ["PodLifecycleSleepAction", GA, true, L],
  ["PodLifecycleSleepActionAllowZero", GA, true, L],
  ["PodLogsQuerySplitStreams", A, false],
  ["PodObservedGenerationTracking", GA, true, L],
  ["PodReadyToStartContainersCondition", B, true],
  ["PodSchedulingReadiness", GA, true, L],
  ["PodTopologyLabelsAdmission", B, true],
  ["PortForwardWebsockets", B, true],
  ["PreferSameTrafficDistribution", GA, true, L],
  ["PreventStaticPodAPIReferences", B, true],
  ["ProcMountType", B, true],
  ["QOSReserved", A, false],
  ["RecoverVolumeExpansionFailure", GA, true, L],
  ["RecursiveReadOnlyMounts", GA, true, L],
  ["ReduceDefaultCrashLoopBackOffDecay", A, false],
  ["RelaxedDNSSearchValidation", GA, true, L],
  ["RelaxedEnvironmentVariableValidation", GA, true, L],
  ["RelaxedServiceNameValidation", A, false],
  ["ReloadKubeletServerCertificateFile", B, true],
  ["ResourceHealthStatus", A, false],
  ["RestartAllContainersOnContainerExits", A, false],
  ["RotateKubeletServerCertificate", B, true],
  ["RuntimeClassInImageCriApi", A, false],
  ["SELinuxChangePolicy", B, true],
  ["SELinuxMount", B, false],
  ["SELinuxMountReadWriteOncePod", B, true],
  ["SchedulerAsyncAPICalls", B, false],
  ["SchedulerAsyncPreemption", B, true],
  ["SchedulerPopFromBackoffQ", B, true],
  ["SchedulerQueueingHints", GA, true, L],
  ["SeparateTaintEvictionController", GA, true, L],
  ["ServiceAccountNodeAudienceRestriction", B, true],
  ["ServiceAccountTokenJTI", GA, true, L],
  ["ServiceAccountTokenNodeBinding", GA, true, L],
  ["ServiceAccountTokenNodeBindingValidation", GA, true, L],
  ["ServiceAccountTokenPodNodeInfo", GA, true, L],
  ["ServiceTrafficDistribution", GA, true, L],
  ["SidecarContainers", GA, true, L],
  ["StatefulSetSemanticRevisionComparison", B, true],
  ["StorageCapacityScoring", A, false],
  ["StorageNamespaceIndex", D, true],
  ["StorageVersionMigrator", B, false],
  ["StreamingCollectionEncodingToJSON", GA, true, L],
  ["StreamingCollectionEncodingToProtobuf", GA, true, L],
  ["StrictIPCIDRValidation", A, false],
  ["SupplementalGroupsPolicy", GA, true, L],
  ["SystemdWatchdog", GA, true, L],
  ["TaintTolerationComparisonOperators", A, false],
  ["TopologyAwareHints", GA, true, L],
  ["TopologyManagerPolicyAlphaOptions", A, false],
  ["TopologyManagerPolicyBetaOptions", B, true],
  ["TopologyManagerPolicyOptions", GA, true],
  ["TranslateStreamCloseWebsocketRequests", B, true],
  ["UserNamespacesHostNetworkSupport", A, false],
  ["UserNamespacesSupport", B, true],
  ["VolumeAttributesClass", GA, true, L],
  ["VolumeLimitScaling", A, false],
  ["WinDSR", GA, true, L],
  ["WinOverlay", GA, true, L],
  ["WindowsCPUAndMemoryAffinity", A, false],
  ["WindowsGracefulNodeShutdown", B, true],
  ["WindowsHostNetwork", D, false],
  // k8s.io/apiextensions-apiserver
  ["CRDObservedGenerationTracking", B, false],
  ["CRDValidationRatcheting", GA, true, L],
  ["CustomResourceFieldSelectors", GA, true, L],
  // k8s.io/apiserver
  ["APIResponseCompression", B, true],
  ["APIServerIdentity", B, true],
  ["APIServerTracing", GA, true, L],
  ["APIServingWithRoutine", A, false],
  ["AggregatedDiscoveryRemoveBetaType", D, true, L],
  ["AllowParsingUserUIDFromCertAuth", B, true],
  ["AllowUnsafeMalformedObjectDeletion", A, false],
  ["AnonymousAuthConfigurableEndpoints", GA, true, L],
  ["AuthorizeWithSelectors", GA, true, L],
  ["BtreeWatchCache", GA, true, L],
  ["CBORServingAndStorage", A, false],
  ["ConcurrentWatchObjectDecode", B, false],
  ["ConsistentListFromCache", GA, true, L],
  ["ConstrainedImpersonation", A, false],
  ["CoordinatedLeaderElection", B, false],
  ["DeclarativeValidation", B, true],
  ["DeclarativeValidationTakeover", B, false],
  ["DetectCacheInconsistency", B, true],
  ["KMSv1", D, false],
  ["ListFromCacheSnapshot", B, true],
  ["MutatingAdmissionPolicy", B, false],
  ["OpenAPIEnums", B, true],
  ["RemoteRequestHeaderUID", B, true],
  ["ResilientWatchCacheInitialization", GA, true, L],
  ["RetryGenerateName", GA, true, L],
  ["SeparateCacheWatchRPC", D, false],
  ["SizeBasedListCostEstimate", B, true],
  ["StorageVersionAPI", A, false],
  ["StorageVersionHash", B, true],
  ["StructuredAuthenticationConfiguration", GA, true, L],
  ["StructuredAuthenticationConfigurationEgressSelector", B, true],
  ["StructuredAuthenticationConfigurationJWKSMetrics", B, true],
  ["StructuredAuthorizationConfiguration", GA, true, L],
  ["TokenRequestServiceAccountUIDValidation", B, true],
  ["UnauthenticatedHTTP2DOSMitigation", B, true],
  ["UnknownVersionInteroperabilityProxy", A, false],
  ["WatchCacheInitializationPostStartHook", B, false],
  ["WatchFromStorageWithoutResourceVersion", D, false, L],
  ["WatchList", B, true],
  // k8s.io/controller-manager
  ["CloudControllerManagerWatchBasedRoutesReconciliation", A, false],
  ["CloudControllerManagerWebhook", A, false],
];

/** Every gate kube-proxy 1.36 accepts, by name (names are case-sensitive). */
export const KNOWN_FEATURE_GATES: ReadonlyMap<string, FeatureGateSpec> = new Map(
  TABLE.map(([name, stage, defaultValue, locked]) => [
    name,
    Object.freeze({ stage, default: defaultValue, locked: locked === L }),
  ]),
);

/**
 * Checks one `name: value` setting the way upstream's `SetFromMap` does.
 *
 * @returns the upstream error text (`unrecognized feature gate: Foo`,
 *   `cannot set feature gate X to false, feature is locked to true`), or undefined when fine.
 */
export function checkFeatureGate(name: string, value: boolean): string | undefined {
  const spec = KNOWN_FEATURE_GATES.get(name);
  if (spec === undefined) return `unrecognized feature gate: ${name}`;
  if (spec.locked && spec.default !== value) {
    return `cannot set feature gate ${name} to ${value}, feature is locked to ${spec.default}`;
  }
  return undefined;
}

/**
 * The warning upstream logs when a GA or deprecated gate is set (it will disappear in a later
 * release, and then the setting becomes an error); undefined for other gates.
 */
export function featureGateWarning(name: string, value: boolean): string | undefined {
  const spec = KNOWN_FEATURE_GATES.get(name);
  if (spec?.stage === "GA") {
    return `Setting GA feature gate ${name}=${value}. It will be removed in a future release.`;
  }
  if (spec?.stage === "Deprecated") {
    return `Setting deprecated feature gate ${name}=${value}. It will be removed in a future release.`;
  }
  return undefined;
}

/**
 * Whether gate `name` is on given the settings `gates` (a `featureGates` map): the explicit
 * setting, else `AllAlpha`/`AllBeta` for alpha/beta gates, else the default. Unknown names are
 * off.
 */
export function featureEnabled(gates: Readonly<Record<string, boolean>>, name: string): boolean {
  const spec = KNOWN_FEATURE_GATES.get(name);
  if (spec === undefined) return false;
  if (Object.hasOwn(gates, name)) return gates[name] === true;
  if (spec.stage === "Alpha" && Object.hasOwn(gates, "AllAlpha")) return gates.AllAlpha === true;
  if (spec.stage === "Beta" && Object.hasOwn(gates, "AllBeta")) return gates.AllBeta === true;
  return spec.default;
}

/** Go's `strconv.ParseBool` spellings. */
const GO_BOOLS: ReadonlyMap<string, boolean> = new Map([
  ...["1", "t", "T", "TRUE", "true", "True"].map((s) => [s, true] as const),
  ...["0", "f", "F", "FALSE", "false", "False"].map((s) => [s, false] as const),
]);

/**
 * Parses a `--feature-gates` value (`A=true,B=false`; spaces around names and values are
 * ignored, empty items skipped, later settings win) as upstream's `MapStringBool` flag does.
 * Names are not checked here: {@linkcode checkFeatureGate} (run by `resolveConfig`) does that.
 *
 * @throws {ConfigError} at path `feature-gates` for a pair without `=` or a value that is not a
 *   Go boolean.
 */
export function parseFeatureGatesFlag(value: string): Record<string, boolean> {
  const gates: Record<string, boolean> = {};
  const problems: { path: string; message: string }[] = [];
  for (const item of value.split(",")) {
    if (item === "") continue;
    const eq = item.indexOf("=");
    if (eq < 0) {
      problems.push({
        path: "feature-gates",
        message: `malformed pair ${JSON.stringify(item.trim())}, expected name=true or name=false`,
      });
      continue;
    }
    const name = item.slice(0, eq).trim();
    const text = item.slice(eq + 1).trim();
    const parsed = GO_BOOLS.get(text);
    if (parsed === undefined) {
      problems.push({
        path: "feature-gates",
        message: `invalid value of ${name}: ${text}, err: strconv.ParseBool: parsing ${
          JSON.stringify(text)
        }: invalid syntax`,
      });
      continue;
    }
    gates[name] = parsed;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return gates;
}
