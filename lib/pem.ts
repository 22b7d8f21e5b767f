/**
 * A DER certificate as PEM: 64-character lines and no blank line, also when the base64 fills
 * the last line exactly (OpenSSL refuses a blank line before the footer).
 */
export function certificatePem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
