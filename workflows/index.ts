export { checkoutWorkflow } from './checkout';
export { paymentOrderWorkflow } from './paymentOrder';
export { refundWorkflow } from './refund';
export { reconciliationWorkflow } from './reconciliation';
export { compensationWorkflow } from './compensation';
export { webhookEndpointWorkflow } from './webhookEndpoint';
export { webhookDeliveryWorkflow } from './webhookDelivery';
