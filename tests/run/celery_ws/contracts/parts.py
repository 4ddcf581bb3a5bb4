import pandera.polars as pa


class Part(pa.DataFrameModel):
    part_id: int = pa.Field(unique=True)
    qty: int = pa.Field(ge=0)
    label: str
