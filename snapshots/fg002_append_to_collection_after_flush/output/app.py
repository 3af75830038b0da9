from sqlalchemy import ForeignKey, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Playlist(Base):
    __tablename__ = "playlists"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    tracks: Mapped[list["Track"]] = relationship(back_populates="playlist")


class Track(Base):
    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(primary_key=True)
    playlist_id: Mapped[int] = mapped_column(ForeignKey("playlists.id"))
    title: Mapped[str] = mapped_column(String(200))
    position: Mapped[int]
    playlist: Mapped[Playlist] = relationship(back_populates="tracks")


async def create_playlist(session: AsyncSession, owner_id: int, name: str, first_track: str) -> int:
    playlist = Playlist(owner_id=owner_id, name=name)
    session.add(playlist)
    await session.flush()
    await session.refresh(playlist, ["tracks"])
    playlist.tracks.append(Track(title=first_track, position=1))
    return playlist.id
