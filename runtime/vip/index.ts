/** Virtual IP management (ip addr + gratuitous ARP); see vip.ts. */
export {
  addVip,
  removeVip,
  hasVip,
  findVip,
  findInterfaceFor,
  sendGratuitousArp,
  type VipSpec,
  type AddVipOptions,
  type AddVipResult,
  type AnnounceResult,
  type RemoveVipResult,
  type InterfaceChoice,
} from './vip.js';
export { listLinks, parseIpAddrJson, familyOf, sameAddress, networkContains, type Family, type IfAddress, type LinkInfo } from './addresses.js';
export { localExec, CommandError, type ExecRunner, type ExecOutput, type ExecRunOptions } from './exec.js';
