/**
 * Registered names (OTP's `register/2`): a worker that others must find
 * again after a restart registers under one of these and is looked up by it
 * in the server's registry (src/otp/registry.ts). One table for the tree
 * (supervisors/) and for the code that looks workers up.
 */
export const ROOM_SUP_NAME = 'room_sup';
export const CONNECTION_SUP_NAME = 'connection_sup';
export const SIGNALING_LISTENER_NAME = 'signaling_listener';
export const TURN_LISTENER_NAME = 'turn_listener';
export const METRICS_LISTENER_NAME = 'metrics_listener';
export const CLUSTER_NODE_NAME = 'cluster_node';
