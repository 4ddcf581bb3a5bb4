import pandera.polars as pa


class FaultPart(pa.DataFrameModel):
    part_id: int = pa.Field(unique=True)
    qty: int = pa.Field(ge=0)
    label: str
