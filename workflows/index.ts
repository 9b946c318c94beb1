export { checkoutWorkflow } from './checkout';
export { paymentOrderWorkflow } from './paymentOrder';
