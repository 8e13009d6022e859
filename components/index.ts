// The package's public surface: the component, its argument and output types, and the pure renderers.
export * from "./args";
export { EtcdCluster, EtcdMember, etcdClusterType, defaultInstanceType, safeClusterName } from "./etcdCluster";
export { EtcdFaultTolerance, faultTolerance, quorum, membersPerZone, memberZoneIndexes } from "./placement";
export { EtcdClusterArgumentError, resolveSettings, limits } from "./validation";
export * from "./releases";
export * from "./pki";
export * from "./render/paths";
export * from "./render/etcdConfig";
export * from "./render/systemdUnit";
export * from "./render/bootScript";
export * from "./render/cloudConfig";
export * from "./render/memberUserData";
export * from "./render/authBootstrap";
