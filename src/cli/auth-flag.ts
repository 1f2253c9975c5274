/** `drover dev|master --auth on|off`. */
/** `--no-auth` is `--auth off`. */
export const AUTH_FLAG = {
  type: 'string',
  default: 'on',
  choices: ['on', 'off'],
  coerce: (v: unknown): string => (v === false || v === 'false' ? 'off' : v === true || v === 'true' ? 'on' : String(v)),
  describe: 'Authentication and permissions; off opens every API to anyone who can reach it (logged loudly)',
} as const;
