import { Router } from 'express';
import { EXTERNAL_ID_PATTERN, isPaymentOrderId } from '../domain/ids';
import { findPaymentOrderView } from '../db/paymentOrders';
import { walletBalances } from '../db/wallets';
import type { ApiContext } from './context';
import { ApiError } from './errors';

export function paymentOrderRoutes(ctx: ApiContext): Router {
  const router = Router();

  router.get('/v1/payment-orders/:id', async (req, res) => {
    const id = req.params.id;
    const order = isPaymentOrderId(id) ? await findPaymentOrderView(ctx.pool, id) : undefined;
    if (!order) throw ApiError.notFound('payment order', id);
    res.json(order);
  });

  router.get('/v1/wallets/:sellerId', async (req, res) => {
    const sellerId = req.params.sellerId;
    const balances = EXTERNAL_ID_PATTERN.test(sellerId) ? await walletBalances(ctx.pool, sellerId) : undefined;
    if (!balances) throw ApiError.notFound('wallet for seller', sellerId);
    res.json({ sellerId, balances });
  });

  return router;
}
