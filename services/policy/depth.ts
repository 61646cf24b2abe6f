/**
 * How deep a policy document may nest. Its own module so that loading a
 * policy value (the agent) does not pull in the YAML parser.
 */
export const MAX_DEPTH = 32;
