"""Partner XML feeds -> contract -> upsert into ``partner_orders``.

Each file in ``data/partners/`` is one slice, streamed record by record (memory stays
flat on files of any size) and checkpointed on its own: a finished file is skipped,
a file a partner re-sends (changed content) is read again from the start.
"""

import polaretl as pe
from contracts.partner_order import PartnerOrder

partner_orders = pe.Pipeline(
    "partner_orders",
    extractor=pe.XmlExtractor(
        "data/partners/*.xml",
        record_tag="order",
        fields={
            "order_id": "@id",
            "partner": "partner",
            "amount": "amount",
            "currency": "amount/@currency",
            "ordered_at": "ordered_at",
            "city": "address/city",
            "skus": "items/item/@sku",
        },
        lists=["skus"],  # always a JSON text list, even with one item
        # the feeds use a default namespace; "" maps unprefixed names to it
        namespaces={"": "urn:example:partners"},
    ),
    contract=PartnerOrder,
    loader=pe.PostgresLoader("partner_orders", key="order_id", mode="upsert"),
    chunk_size=50_000,
)
