// @peculiar/x509 needs reflect-metadata and a WebCrypto provider before first use. It is used
// for the rare certificates (roots, intermediates), never per leaf.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export { x509 };
